-- Regions are a hierarchy (GB/T 2260): PP0000 is a province-level division, PPCC00 a prefecture-level
-- division inside it, PPCCDD a county-level division inside that (PP00DD: directly under the province).
-- A code covers the codes of its span; two codes overlap when one covers the other. Single-operator
-- exclusivity, scope checks and matching all follow it: a single-operator grant for 110000 (Beijing)
-- excludes another operator's grant for 110101 (a district of Beijing), and a demand for a district is
-- served by a product for its province.

-- The codes a code covers, as a range: 110000 → [110000, 120000), 110100 → [110100, 110200), 110101 → [110101, 110102).
CREATE FUNCTION pdx_region_span(code text) RETURNS int4range
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN right(code, 4) = '0000' THEN int4range(code::int, code::int + 10000)
                WHEN right(code, 2) = '00' THEN int4range(code::int, code::int + 100)
                ELSE int4range(code::int, code::int + 1) END;

-- A code and the divisions that contain it, itself first: 310115 → {310115, 310100, 310000}.
CREATE FUNCTION pdx_region_lineage(code text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN right(code, 4) = '0000' THEN ARRAY[code]
                WHEN right(code, 2) = '00' OR substr(code, 3, 2) = '00' THEN ARRAY[code, left(code, 2) || '0000']
                ELSE ARRAY[code, left(code, 4) || '00', left(code, 2) || '0000'] END;

-- Whether some code of one list covers, or is covered by, some code of the other.
CREATE FUNCTION pdx_regions_overlap(a text[], b text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN EXISTS (SELECT 1 FROM unnest(a) AS x, unnest(b) AS y WHERE pdx_region_span(x) && pdx_region_span(y));

-- MARK: Single-operator exclusivity over the hierarchy

ALTER TABLE authorization_scopes DROP CONSTRAINT authorization_scopes_single_operator;
ALTER TABLE authorization_scopes ADD COLUMN region_span int4range;

-- One row per (sector, region) of a live authorization, as before, with the region's span; a region of
-- the grant that another of its regions covers adds nothing (and would exclude its own parent). A
-- multi-operator row claims a slot of its own (nextval is evaluated per row in the select list).
CREATE OR REPLACE FUNCTION pdx_authorization_scopes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM authorization_scopes WHERE authorization_id = OLD.id;
    END IF;
    IF NEW.state IN ('active', 'suspended') THEN
        INSERT INTO authorization_scopes (authorization_id, sector, region_code, region_span, validity, exclusivity)
        SELECT NEW.id, s, r, pdx_region_span(r), NEW.validity,
               CASE WHEN NEW.mode = 'single' THEN '(,)'::int8range
                    ELSE int8range(nextval('pdx_authorization_scope_slot'), currval('pdx_authorization_scope_slot') + 1) END
        FROM unnest(NEW.sectors) AS s, unnest(NEW.regions) AS r
        WHERE NOT EXISTS (SELECT 1 FROM unnest(NEW.regions) AS o WHERE o <> r AND pdx_region_span(o) @> pdx_region_span(r));
    END IF;
    RETURN NULL;
END
$$;

DELETE FROM authorization_scopes;
INSERT INTO authorization_scopes (authorization_id, sector, region_code, region_span, validity, exclusivity)
SELECT a.id, s, r, pdx_region_span(r), a.validity,
       CASE WHEN a.mode = 'single' THEN '(,)'::int8range
            ELSE int8range(nextval('pdx_authorization_scope_slot'), currval('pdx_authorization_scope_slot') + 1) END
FROM authorizations a, unnest(a.sectors) AS s, unnest(a.regions) AS r
WHERE a.state IN ('active', 'suspended')
  AND NOT EXISTS (SELECT 1 FROM unnest(a.regions) AS o WHERE o <> r AND pdx_region_span(o) @> pdx_region_span(r));

-- Grants made before regions were a hierarchy may overlap now; say which, rather than fail obscurely.
DO $$
DECLARE
    clash record;
BEGIN
    SELECT x.authorization_id AS first, y.authorization_id AS second, x.sector, x.region_code AS one, y.region_code AS other
    INTO clash
    FROM authorization_scopes x JOIN authorization_scopes y
      ON x.id < y.id AND x.authorization_id <> y.authorization_id AND x.sector = y.sector
     AND x.validity && y.validity AND x.exclusivity && y.exclusivity AND x.region_span && y.region_span
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'authorizations % and % overlap under single-operator mode (sector %, regions % and %, one inside the other)',
            clash.first, clash.second, clash.sector, clash.one, clash.other
            USING HINT = 'regions are now a hierarchy: revoke one of them (POST /v1/authorizations/{id}/revoke; a suspended grant keeps its scope), then run pdx migrate again';
    END IF;
END
$$;

ALTER TABLE authorization_scopes ALTER COLUMN region_span SET NOT NULL;
ALTER TABLE authorization_scopes ADD CONSTRAINT authorization_scopes_single_operator EXCLUDE USING gist (
    sector WITH =, region_span WITH &&, validity WITH &&, exclusivity WITH &&);

-- MARK: Match keys over the hierarchy

-- What a product offers and what a demand wants, as keys that share an element exactly when the sector
-- agrees, a delivery mode is shared and a region of one covers a region of the other:
--   offered: 'sector/R/mode' for each region R of the product, and 'sector/^A/mode' for each A of R's lineage;
--   wanted:  'sector/A/mode' for each A of the lineage of each region D of the demand, and 'sector/^D/mode'.
-- A product's R is in a demand's lineage when R covers D; a demand's D is in the product's lineage when
-- D covers R; nothing else can meet (the two kinds of key never equal each other).
CREATE FUNCTION pdx_offered_keys(sector text, regions text[], modes pdx_delivery_mode[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY(SELECT DISTINCT k FROM (
        SELECT sector || '/' || r || '/' || m::text AS k FROM unnest(regions) AS r, unnest(modes) AS m
        UNION ALL
        SELECT sector || '/^' || a || '/' || m::text FROM unnest(regions) AS r, unnest(pdx_region_lineage(r)) AS a, unnest(modes) AS m
    ) AS keys ORDER BY k);

CREATE FUNCTION pdx_wanted_keys(sector text, regions text[], modes pdx_delivery_mode[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY(SELECT DISTINCT k FROM (
        SELECT sector || '/' || a || '/' || m::text AS k FROM unnest(regions) AS r, unnest(pdx_region_lineage(r)) AS a, unnest(modes) AS m
        UNION ALL
        SELECT sector || '/^' || r || '/' || m::text FROM unnest(regions) AS r, unnest(modes) AS m
    ) AS keys ORDER BY k);

CREATE OR REPLACE FUNCTION pdx_catalogue_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalogue WHERE product_id = NEW.id;
    INSERT INTO catalogue (product_id, version, operator_id, authorization_id, sector, regions, delivery_modes, scenarios, fields,
                           tags, title, description, charge_unit, list_price_fen, match_keys)
    SELECT p.id, p.version, p.operator_id, p.authorization_id, v.sector, v.regions, v.delivery_modes, v.scenarios, v.fields,
           v.tags, v.title, v.description, v.charge_unit, v.list_price_fen, pdx_offered_keys(v.sector, v.regions, v.delivery_modes)
    FROM products p JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
    WHERE p.id = NEW.id AND p.state = 'listed';
    PERFORM pg_notify('pdx_catalogue', NEW.id::text);
    RETURN NULL;
END
$$;

UPDATE catalogue SET match_keys = pdx_offered_keys(sector, regions, delivery_modes);

-- Built in this migration's transaction (CONCURRENTLY cannot be): demand writes wait while it builds,
-- a second or so for tens of thousands of open demands.
CREATE INDEX demands_wanted_keys ON demands USING gin (pdx_wanted_keys(sector, regions, delivery_modes)) WITH (fastupdate = off)
    WHERE state IN ('open', 'matched');
-- pdx_match_keys stays, for binaries of the previous version still running during an upgrade (their
-- matching of a new product then scans the open demands instead of using the dropped index); a later
-- migration drops it.
DROP INDEX demands_match_keys;

-- MARK: Pricing rules keep the reach they were announced with

-- A rule version's region now covers the divisions within it. Versions written before keep covering
-- only products that list the very code (region_exact): widening them now could raise prices (a tiers
-- rule or usage plan reaching new products) without the notice a change needs. New versions nest.
-- (DEFAULT true fills the existing rows without an UPDATE, which their append-only trigger refuses.)
ALTER TABLE pricing_rule_versions ADD COLUMN region_exact boolean NOT NULL DEFAULT true;
ALTER TABLE pricing_rule_versions ALTER COLUMN region_exact SET DEFAULT false;
