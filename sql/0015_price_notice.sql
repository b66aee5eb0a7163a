-- Price increases take effect only after a notice period (DOMAIN rule 5), on every path: a pricing rule
-- added, changed or retired, and a listed product's revision. The period is an administrator's setting
-- with a floor of 30 days (`pdxctl settings set --price-notice-days N`); MarketStore decides what can
-- raise a price and schedules it.

CREATE TABLE market_settings (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    price_notice_days integer NOT NULL DEFAULT 30 CHECK (price_notice_days BETWEEN 30 AND 365),
    updated_by        text NOT NULL DEFAULT 'pdx migrate' CHECK (length(btrim(updated_by)) BETWEEN 1 AND 200),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO market_settings DEFAULT VALUES;

-- A listed or suspended product's revision that can raise what a buyer pays is announced, not applied:
-- it waits as the version after the current one, not frozen (a later revision replaces it), until
-- `pending_effective_at`, when a job makes it current. A product has at most one announced version.
ALTER TABLE products ADD COLUMN pending_effective_at timestamptz;

-- An order is for the version on sale now, of a listed product: whoever inserts it.
CREATE FUNCTION pdx_orders_for_sale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM products WHERE id = NEW.product_id AND version = NEW.product_version AND state = 'listed') THEN
        RAISE EXCEPTION 'product % is not for sale at version %', NEW.product_id, NEW.product_version
            USING ERRCODE = 'P0001', CONSTRAINT = 'orders_for_sale';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_for_sale BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION pdx_orders_for_sale();
