-- Every change to the catalogue is announced on pdx_catalogue with the product's id, when its transaction
-- commits, so that API servers can keep listed products in memory and drop them as they change.
CREATE OR REPLACE FUNCTION pdx_catalogue_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalogue WHERE product_id = NEW.id;
    INSERT INTO catalogue (product_id, version, operator_id, authorization_id, sector, regions, delivery_modes, scenarios, fields,
                           tags, title, description, charge_unit, list_price_fen, match_keys)
    SELECT p.id, p.version, p.operator_id, p.authorization_id, v.sector, v.regions, v.delivery_modes, v.scenarios, v.fields,
           v.tags, v.title, v.description, v.charge_unit, v.list_price_fen, pdx_match_keys(v.sector, v.regions, v.delivery_modes)
    FROM products p JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
    WHERE p.id = NEW.id AND p.state = 'listed';
    PERFORM pg_notify('pdx_catalogue', NEW.id::text);
    RETURN NULL;
END
$$;
