-- The catalogue: what is for sale now, one row per listed product with its current version, kept by a
-- trigger on products. Matching searches it instead of joining products to their versions: one GIN
-- lookup on the match keys finds every product of a demand's sector offered in one of its regions with
-- one of its delivery modes, and the rows carry what scoring and pricing need.

-- 'sector/region/mode' for every region and delivery mode: two rows share a key exactly when they agree
-- on the sector and overlap in regions and in delivery modes.
CREATE FUNCTION pdx_match_keys(sector text, regions text[], modes pdx_delivery_mode[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY(SELECT sector || '/' || r || '/' || m::text FROM unnest(regions) AS r, unnest(modes) AS m ORDER BY 1);

CREATE TABLE catalogue (
    product_id       uuid PRIMARY KEY REFERENCES products,
    version          integer NOT NULL,
    operator_id      uuid NOT NULL,
    authorization_id uuid NOT NULL,
    sector           text NOT NULL,
    regions          text[] NOT NULL,
    delivery_modes   pdx_delivery_mode[] NOT NULL,
    scenarios        text[] NOT NULL,
    fields           text[] NOT NULL,
    tags             text[] NOT NULL,
    title            text NOT NULL,
    description      text NOT NULL,
    charge_unit      pdx_charge_unit NOT NULL,
    list_price_fen   bigint NOT NULL,
    match_keys       text[] NOT NULL,
    FOREIGN KEY (product_id, version) REFERENCES product_versions
);
-- Without the pending list: every search would scan what is pending since the last vacuum.
CREATE INDEX catalogue_match_keys ON catalogue USING gin (match_keys) WITH (fastupdate = off);
CREATE INDEX catalogue_authorization ON catalogue (authorization_id);

-- Deferred to the end of the transaction, so that a product inserted before its version (or listed and
-- revised in one transaction) is read as it finally is.
CREATE FUNCTION pdx_catalogue_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalogue WHERE product_id = NEW.id;
    INSERT INTO catalogue (product_id, version, operator_id, authorization_id, sector, regions, delivery_modes, scenarios, fields,
                           tags, title, description, charge_unit, list_price_fen, match_keys)
    SELECT p.id, p.version, p.operator_id, p.authorization_id, v.sector, v.regions, v.delivery_modes, v.scenarios, v.fields,
           v.tags, v.title, v.description, v.charge_unit, v.list_price_fen, pdx_match_keys(v.sector, v.regions, v.delivery_modes)
    FROM products p JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
    WHERE p.id = NEW.id AND p.state = 'listed';
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER products_catalogue AFTER INSERT OR UPDATE OF state, version ON products
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pdx_catalogue_sync();

INSERT INTO catalogue (product_id, version, operator_id, authorization_id, sector, regions, delivery_modes, scenarios, fields,
                       tags, title, description, charge_unit, list_price_fen, match_keys)
SELECT p.id, p.version, p.operator_id, p.authorization_id, v.sector, v.regions, v.delivery_modes, v.scenarios, v.fields,
       v.tags, v.title, v.description, v.charge_unit, v.list_price_fen, pdx_match_keys(v.sector, v.regions, v.delivery_modes)
FROM products p JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
WHERE p.state = 'listed';

-- The open demands a new product may serve, by the same keys.
CREATE INDEX demands_match_keys ON demands USING gin (pdx_match_keys(sector, regions, delivery_modes)) WITH (fastupdate = off)
    WHERE state IN ('open', 'matched');

-- Demands change state often (open, matched, ordered): every UPDATE evaluated their CHECK constraints on
-- arrays (each a SQL function with subqueries) and inserted into every index. The same rules now run in
-- a trigger only when the columns are written, under the same constraint names; and the indexes that
-- matching no longer reads are gone (demands_match_keys serves it).
ALTER TABLE demands
    DROP CONSTRAINT demands_scenario_check,
    DROP CONSTRAINT demands_regions_check,
    DROP CONSTRAINT demands_fields_wanted_check,
    DROP CONSTRAINT demands_tags_check;

CREATE FUNCTION pdx_demands_validate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pdx_slugs_ok(ARRAY[NEW.scenario], false) THEN
        RAISE EXCEPTION 'scenario must be a lowercase identifier' USING ERRCODE = 'check_violation',
            CONSTRAINT = 'demands_scenario_check', TABLE = 'demands', COLUMN = 'scenario';
    END IF;
    IF NOT pdx_region_codes_ok(NEW.regions) THEN
        RAISE EXCEPTION 'regions must be distinct GB/T 2260 codes' USING ERRCODE = 'check_violation',
            CONSTRAINT = 'demands_regions_check', TABLE = 'demands', COLUMN = 'regions';
    END IF;
    IF NOT pdx_slugs_ok(NEW.fields_wanted, false) THEN
        RAISE EXCEPTION 'fields_wanted must be distinct lowercase identifiers, at least one' USING ERRCODE = 'check_violation',
            CONSTRAINT = 'demands_fields_wanted_check', TABLE = 'demands', COLUMN = 'fields_wanted';
    END IF;
    IF NOT pdx_slugs_ok(NEW.tags, true) THEN
        RAISE EXCEPTION 'tags must be distinct lowercase identifiers' USING ERRCODE = 'check_violation',
            CONSTRAINT = 'demands_tags_check', TABLE = 'demands', COLUMN = 'tags';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER demands_validate BEFORE INSERT OR UPDATE OF scenario, regions, fields_wanted, tags ON demands
    FOR EACH ROW EXECUTE FUNCTION pdx_demands_validate();

DROP INDEX demands_text;
DROP INDEX demands_open;
