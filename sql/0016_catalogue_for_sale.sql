-- The catalogue shows only what can be bought: a listed product under an active authorization. A
-- suspension takes the authorization's products out (announced on pdx_catalogue, so API servers drop
-- them from memory), a reinstatement puts them back. Each row also carries the announced version's
-- price and time, so that buyers see a coming increase.
--
-- Authorizations keep the reason of their last change of state beside its time, for their operator.

ALTER TABLE authorizations ADD COLUMN state_reason text CHECK (length(state_reason) <= 2000);
UPDATE authorizations a SET state_reason = (
    SELECT c.reason FROM authorization_state_changes c WHERE c.authorization_id = a.id ORDER BY c.id DESC LIMIT 1);

ALTER TABLE catalogue
    ADD COLUMN pending_version integer,
    ADD COLUMN pending_effective_at timestamptz,
    ADD COLUMN pending_list_price_fen bigint,
    ADD COLUMN pending_charge_unit pdx_charge_unit;

-- Rewrites a product's catalogue row from the tables, and announces the change.
CREATE FUNCTION pdx_catalogue_refresh(product uuid) RETURNS void LANGUAGE plpgsql AS $$
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
    LEFT JOIN product_versions n ON p.pending_effective_at IS NOT NULL AND n.product_id = p.id AND n.version = p.version + 1
    WHERE p.id = product AND p.state = 'listed';
    PERFORM pg_notify('pdx_catalogue', product::text);
END
$$;

CREATE OR REPLACE FUNCTION pdx_catalogue_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_catalogue_refresh(NEW.id);
    RETURN NULL;
END
$$;

DROP TRIGGER products_catalogue ON products;
CREATE CONSTRAINT TRIGGER products_catalogue AFTER INSERT OR UPDATE OF state, version, pending_effective_at ON products
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pdx_catalogue_sync();

CREATE FUNCTION pdx_catalogue_follow_authorization() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_catalogue_refresh(p.id) FROM products p WHERE p.authorization_id = NEW.id AND p.state = 'listed';
    RETURN NULL;
END
$$;
CREATE TRIGGER authorizations_catalogue AFTER UPDATE OF state ON authorizations
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION pdx_catalogue_follow_authorization();

-- Listed products of authorizations that are not active leave the catalogue now.
DELETE FROM catalogue c USING authorizations a WHERE a.id = c.authorization_id AND a.state <> 'active';
