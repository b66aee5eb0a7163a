-- Seeing the market: the demand board (who may see which open demand, follows, manual proposals),
-- direct purchase, re-development by other parties (derived products and their lineage), and the
-- histories the market keeps (an order's entitlement, a resource's de-identification).

-- MARK: The demand board

-- A demander chooses whether suppliers on the board see who it is.
ALTER TABLE demands ADD COLUMN show_identity boolean NOT NULL DEFAULT false;

-- Whether a demand of `demand_sector` in `demand_regions` is on the board of `viewer`: an operator sees
-- the demands inside an authorization in force it holds (sector, and a region overlapping its regions);
-- an agency those inside the sectors and regions of the resources it registered and of the grants it
-- made that still hold their scope. Nobody else has a board.
CREATE FUNCTION pdx_board_visible(viewer uuid, viewer_kind pdx_party_kind, demand_sector text, demand_regions text[]) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE viewer_kind
        WHEN 'operator' THEN EXISTS (
            SELECT 1 FROM authorizations a
            WHERE a.operator_id = viewer AND a.state = 'active' AND a.validity @> now()
              AND demand_sector = ANY(a.sectors) AND pdx_regions_overlap(a.regions, demand_regions))
        WHEN 'agency' THEN EXISTS (
            SELECT 1 FROM data_resources r
            WHERE r.agency_id = viewer AND r.sector = demand_sector AND pdx_regions_overlap(ARRAY[r.region_code], demand_regions))
            OR EXISTS (
            SELECT 1 FROM authorizations a
            WHERE a.agency_id = viewer AND a.state IN ('active', 'suspended')
              AND demand_sector = ANY(a.sectors) AND pdx_regions_overlap(a.regions, demand_regions))
        ELSE false
    END
$$;

-- A follow: a saved board query whose new demands an operator hears of (`demand.opened`). Every
-- criterion is optional; a demand matches when it meets all that are set, and is on the follower's board.
CREATE TABLE board_follows (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    party_id    uuid NOT NULL,
    party_kind  pdx_party_kind NOT NULL DEFAULT 'operator' CHECK (party_kind = 'operator'),
    sector      text,
    region_code text CHECK (pdx_region_code_ok(region_code)),
    scenario    text,
    purpose     pdx_purpose,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (party_id, party_kind) REFERENCES parties (id, kind)
);
CREATE INDEX board_follows_party ON board_follows (party_id);

CREATE FUNCTION pdx_board_follows_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sector IS NOT NULL THEN PERFORM pdx_require_known(ARRAY[NEW.sector], 'sector', 'sectors'); END IF;
    IF NEW.scenario IS NOT NULL THEN PERFORM pdx_require_known(ARRAY[NEW.scenario], 'scenario', 'scenarios'); END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER board_follows_known BEFORE INSERT ON board_follows FOR EACH ROW EXECUTE FUNCTION pdx_board_follows_known();

-- The operators that hear of a demand first opened with these values: each once, active, with a webhook,
-- a follow the demand meets and the demand on its board.
CREATE FUNCTION pdx_demand_followers(demander uuid, demand_sector text, demand_regions text[], demand_scenario text,
                                     demand_purpose pdx_purpose) RETURNS SETOF uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- Every demand posted open asks: PL/pgSQL keeps this query's plan for the session (a SQL function is
    -- planned again at every call), and a market without follows answers at once.
    IF NOT EXISTS (SELECT 1 FROM board_follows) THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT DISTINCT f.party_id FROM board_follows f JOIN parties p ON p.id = f.party_id
        WHERE (f.sector IS NULL OR f.sector = demand_sector) AND (f.scenario IS NULL OR f.scenario = demand_scenario)
          AND (f.purpose IS NULL OR f.purpose = demand_purpose)
          AND (f.region_code IS NULL OR pdx_regions_overlap(ARRAY[f.region_code], demand_regions))
          AND f.party_id <> demander AND p.state = 'active' AND p.webhook_url IS NOT NULL
          AND pdx_board_visible(f.party_id, 'operator', demand_sector, demand_regions);
END
$$;

-- Proposals an operator made by hand from the board name it; the workers' leave it null.
ALTER TABLE matches ADD COLUMN proposed_by uuid REFERENCES parties;

-- MARK: Orders: the scenario bought for, and the entitlement's start

ALTER TABLE orders
    ADD COLUMN scenario text,
    ADD COLUMN entitlement_starts_at timestamptz,
    ADD CONSTRAINT orders_entitlement_ordered CHECK (
        entitlement_ends_at IS NULL OR entitlement_starts_at IS NULL OR entitlement_ends_at > entitlement_starts_at);
UPDATE orders o SET scenario = d.scenario FROM matches m JOIN demands d ON d.id = m.demand_id WHERE m.id = o.match_id;
-- Orders delivered before this migration started their entitlement when they were delivered (audited).
UPDATE orders o SET entitlement_starts_at = (
    SELECT min(e.at) FROM audit_events e WHERE e.subject_type = 'order' AND e.subject_id = o.id::text AND e.action = 'order.delivered')
WHERE o.entitlement_ends_at IS NOT NULL;

CREATE FUNCTION pdx_orders_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.scenario IS NOT NULL THEN
        PERFORM pdx_require_known(ARRAY[NEW.scenario], 'scenario', 'scenarios');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_known BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION pdx_orders_known();

-- MARK: Re-development by other parties (rule 4's second half)

-- A party that holds a completed order may register as a re-developer, and then sell derived products.
ALTER TABLE parties ADD COLUMN redeveloper_since timestamptz;

-- A product is sold by an operator, or by a demander that re-developed what it bought.
ALTER TABLE products DROP CONSTRAINT products_operator_kind_check;
ALTER TABLE products ADD CONSTRAINT products_seller_kind CHECK (operator_kind IN ('operator', 'demander'));

-- What a derived product was built from: a completed order of its seller, and the product version it
-- bought. Fixed when the product is created; never changed or removed.
CREATE TABLE product_derivations (
    product_id      uuid NOT NULL REFERENCES products,
    source_order_id uuid NOT NULL REFERENCES orders,
    source_product  uuid NOT NULL,
    source_version  integer NOT NULL,
    PRIMARY KEY (product_id, source_order_id),
    FOREIGN KEY (source_product, source_version) REFERENCES product_versions,
    CONSTRAINT product_derivations_not_itself CHECK (source_product <> product_id)
);
CREATE INDEX product_derivations_source ON product_derivations (source_product);

CREATE FUNCTION pdx_product_derivations_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    seller uuid;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'a derived product''s sources are fixed when it is created'
            USING ERRCODE = 'P0001', CONSTRAINT = 'product_versions_frozen';
    END IF;
    SELECT operator_id INTO seller FROM products WHERE id = NEW.product_id;
    IF NOT EXISTS (SELECT 1 FROM parties WHERE id = seller AND redeveloper_since IS NOT NULL) THEN
        RAISE EXCEPTION 'party % is not registered as a re-developer', seller
            USING ERRCODE = 'P0001', CONSTRAINT = 'redeveloper_required';
    END IF;
    -- FOR KEY SHARE: the order cannot disappear; its state is final once completed.
    PERFORM 1 FROM orders o
    WHERE o.id = NEW.source_order_id AND o.buyer_id = seller AND o.state = 'completed'
      AND o.product_id = NEW.source_product AND o.product_version = NEW.source_version
    FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'order % is not a completed order of party % for product % version %',
            NEW.source_order_id, seller, NEW.source_product, NEW.source_version
            USING ERRCODE = 'P0001', CONSTRAINT = 'derivation_source';
    END IF;
    -- The operator whose scope covers the source (or a party affiliated with it) may not re-develop it.
    PERFORM pdx_check_anti_monopoly(seller, NEW.source_product, NEW.source_version);
    RETURN NEW;
END
$$;
CREATE TRIGGER product_derivations_check BEFORE INSERT OR UPDATE OR DELETE ON product_derivations
    FOR EACH ROW EXECUTE FUNCTION pdx_product_derivations_check();

-- The products resting on an authorization: those under it, and every product derived from them,
-- generation after generation.
CREATE FUNCTION pdx_built_on(grant_id uuid) RETURNS SETOF uuid LANGUAGE sql STABLE AS $$
    WITH RECURSIVE built(id) AS (
        SELECT id FROM products WHERE authorization_id = grant_id
        UNION
        SELECT d.product_id FROM product_derivations d JOIN built b ON d.source_product = b.id
    )
    SELECT id FROM built
$$;

-- The authorizations a product rests on: its own, and those of every product in its lineage. A derived
-- product is for sale only while all of them are.
CREATE FUNCTION pdx_lineage_grants(product uuid) RETURNS SETOF uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- Asked for every product of every proposal statement: PL/pgSQL keeps the plans for the session, and a
    -- product derived from nothing (almost all) costs one probe.
    IF NOT EXISTS (SELECT 1 FROM product_derivations d WHERE d.product_id = product) THEN
        RETURN QUERY SELECT p.authorization_id FROM products p WHERE p.id = product;
        RETURN;
    END IF;
    RETURN QUERY
        WITH RECURSIVE lineage(id) AS (
            SELECT product
            UNION
            SELECT d.source_product FROM product_derivations d JOIN lineage l ON d.product_id = l.id
        )
        SELECT DISTINCT p.authorization_id FROM lineage l JOIN products p ON p.id = l.id;
END
$$;

-- A derived product stays within what it was built from, in every version: exactly its sources'
-- resources (and with them rule 3: no core data, important data only in a sandbox, personal information
-- only de-identified), one of their sectors, regions within theirs of that sector, scenarios among
-- theirs. Checked at commit whenever a product is inserted, changes version or state (a listing after a
-- draft was edited). A product sold by a demander must be derived.
CREATE FUNCTION pdx_products_derived_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    content product_versions;
    broken text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM product_derivations WHERE product_id = NEW.id) THEN
        IF NEW.operator_kind = 'demander' THEN
            RAISE EXCEPTION 'product % is sold by a demander and must be derived from its completed orders', NEW.id
                USING ERRCODE = 'P0001', CONSTRAINT = 'derivation_source';
        END IF;
        RETURN NULL;
    END IF;
    SELECT * INTO content FROM product_versions WHERE product_id = NEW.id AND version = NEW.version;
    WITH sources AS (
        SELECT v.* FROM product_derivations d JOIN product_versions v ON v.product_id = d.source_product AND v.version = d.source_version
        WHERE d.product_id = NEW.id
    ), carried AS (
        SELECT DISTINCT s.resource_id FROM sources v
        JOIN product_version_sources s ON s.product_id = v.product_id AND s.version = v.version
    ), own AS (
        SELECT resource_id FROM product_version_sources WHERE product_id = NEW.id AND version = NEW.version
    )
    SELECT CASE
        WHEN EXISTS (SELECT resource_id FROM carried EXCEPT SELECT resource_id FROM own)
          OR EXISTS (SELECT resource_id FROM own EXCEPT SELECT resource_id FROM carried)
            THEN 'its resources must be exactly those of its sources'
        WHEN NOT EXISTS (SELECT 1 FROM sources WHERE sector = content.sector)
            THEN 'sector ' || content.sector || ' is not the sector of any of its sources'
        WHEN EXISTS (SELECT 1 FROM unnest(content.regions) AS r WHERE NOT EXISTS (
                SELECT 1 FROM sources v, unnest(v.regions) AS sr
                WHERE v.sector = content.sector AND pdx_region_span(r) <@ pdx_region_span(sr)))
            THEN 'a region lies outside the regions of its sources in that sector'
        WHEN EXISTS (SELECT 1 FROM unnest(content.scenarios) AS c WHERE NOT EXISTS (SELECT 1 FROM sources v WHERE c = ANY(v.scenarios)))
            THEN 'a scenario is not one of its sources'
    END INTO broken;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'version % of derived product %: %', NEW.version, NEW.id, broken
            USING ERRCODE = 'P0001', CONSTRAINT = 'derivation_source';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER products_derived AFTER INSERT OR UPDATE OF version, state ON products
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pdx_products_derived_check();

-- The catalogue shows a derived product only while every authorization of its lineage is active; a change
-- of an authorization's state refreshes every product resting on it.
CREATE OR REPLACE FUNCTION pdx_catalogue_refresh(product uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalogue WHERE product_id = product;
    INSERT INTO catalogue (product_id, version, operator_id, authorization_id, sector, regions, delivery_modes, scenarios, fields,
                           tags, title, description, charge_unit, list_price_fen, match_keys,
                           pending_version, pending_effective_at, pending_list_price_fen, pending_charge_unit)
    SELECT p.id, p.version, p.operator_id, p.authorization_id, v.sector, v.regions, v.delivery_modes, v.scenarios, v.fields,
           v.tags, v.title, v.description, v.charge_unit, v.list_price_fen, pdx_offered_keys(v.sector, v.regions, v.delivery_modes),
           n.version, p.pending_effective_at, n.list_price_fen, n.charge_unit
    FROM products p
    JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
    JOIN authorizations a ON a.id = p.authorization_id AND a.state = 'active'
    JOIN parties o ON o.id = p.operator_id AND o.state = 'active'
    LEFT JOIN product_versions n ON p.pending_effective_at IS NOT NULL AND n.product_id = p.id AND n.version = p.version + 1
    WHERE p.id = product AND p.state = 'listed'
      AND NOT EXISTS (SELECT 1 FROM product_derivations d WHERE d.product_id = p.id
                      AND EXISTS (SELECT 1 FROM pdx_lineage_grants(p.id) AS g JOIN authorizations la ON la.id = g WHERE la.state <> 'active'));
    PERFORM pg_notify('pdx_catalogue', product::text);
END
$$;

CREATE OR REPLACE FUNCTION pdx_catalogue_follow_authorization() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_catalogue_refresh(p.id) FROM pdx_built_on(NEW.id) AS b JOIN products p ON p.id = b WHERE p.state = 'listed';
    RETURN NULL;
END
$$;

-- MARK: De-identification, recorded with its evidence

ALTER TABLE data_resources
    ADD COLUMN deidentified_evidence text,
    ADD CONSTRAINT data_resources_deidentified_evidence_ok CHECK (
        deidentified_evidence IS NULL OR (length(btrim(deidentified_evidence)) BETWEEN 1 AND 2000 AND deidentified_method IS NOT NULL)),
    ADD CONSTRAINT data_resources_deidentified_by_ok CHECK (length(btrim(deidentified_by)) BETWEEN 1 AND 200);

-- A re-developer's products leave the catalogue while it is suspended, as an operator's do.
DROP TRIGGER parties_catalogue ON parties;
CREATE TRIGGER parties_catalogue AFTER UPDATE OF state ON parties
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.kind <> 'agency') EXECUTE FUNCTION pdx_catalogue_follow_party();
