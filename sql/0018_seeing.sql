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

-- A derived product inherits its sources' resources (and with them rule 3: no core data, important data
-- only in a sandbox, personal information only de-identified), in every version: checked at commit for
-- each product inserted or moved to another version. A product sold by a demander must be derived.
CREATE FUNCTION pdx_products_derived_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM product_derivations WHERE product_id = NEW.id) THEN
        IF NEW.operator_kind = 'demander' THEN
            RAISE EXCEPTION 'product % is sold by a demander and must be derived from its completed orders', NEW.id
                USING ERRCODE = 'P0001', CONSTRAINT = 'derivation_source';
        END IF;
        RETURN NULL;
    END IF;
    SELECT s.resource_id INTO missing
    FROM product_derivations d JOIN product_version_sources s ON s.product_id = d.source_product AND s.version = d.source_version
    WHERE d.product_id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM product_version_sources o
                      WHERE o.product_id = NEW.id AND o.version = NEW.version AND o.resource_id = s.resource_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'version % of derived product % does not carry resource % of its sources', NEW.version, NEW.id, missing
            USING ERRCODE = 'P0001', CONSTRAINT = 'derivation_source';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER products_derived AFTER INSERT OR UPDATE OF version ON products
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pdx_products_derived_check();

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
