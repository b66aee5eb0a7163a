-- Money and quantities have bounds (the API and MarketStore check them first; this is the second line,
-- for every writer): a unit price at most 10^10 fen (100 million yuan), an amount (a budget, a quote,
-- an order, an allowance, a number in a pricing rule) at most 10^15 fen (10 trillion yuan); quantities
-- were bounded at 10^12 from the start. Within these, a unit price times a quantity fits 64 bits only
-- when it is an amount an order may have, and sums are taken in numeric (no sum can overflow).
--
-- Rows written before these bounds existed are kept. Where every old row satisfies a bound, it is a
-- CHECK. Where some do not, a CHECK would refuse every later UPDATE of those rows, even one that only
-- moves their state (a demand's expiry, an order's completion, a revocation withdrawing a proposal), so
-- the bound is a trigger instead, on writes of its own column only (same name, same error).

-- A bound as a trigger: TG_ARGV = the column, the largest value, the constraint's name.
CREATE FUNCTION pdx_bounded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) ->> TG_ARGV[0])::numeric > TG_ARGV[1]::numeric THEN
        RAISE EXCEPTION '% must be at most %', TG_ARGV[0], TG_ARGV[1]
            USING ERRCODE = 'check_violation', CONSTRAINT = TG_ARGV[2], TABLE = TG_TABLE_NAME, COLUMN = TG_ARGV[0];
    END IF;
    RETURN NEW;
END
$$;

DO $$
DECLARE
    bound record;
BEGIN
    FOR bound IN
        SELECT * FROM (VALUES
            ('product_versions', 'list_price_fen', 10000000000::bigint, 'product_versions_list_price_bounded'),
            ('demands', 'budget_fen', 1000000000000000, 'demands_budget_bounded'),
            ('matches', 'quote_fen', 1000000000000000, 'matches_quote_bounded'),
            ('orders', 'amount_fen', 1000000000000000, 'orders_amount_bounded'),
            ('revenue_allowances', 'allowance_fen', 1000000000000000, 'revenue_allowances_bounded')
        ) AS b(tab, col, maximum, name)
    LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I <= %s) NOT VALID', bound.tab, bound.name, bound.col, bound.maximum);
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', bound.tab, bound.name);
        EXCEPTION WHEN check_violation THEN
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', bound.tab, bound.name);
            EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %I FOR EACH ROW EXECUTE FUNCTION pdx_bounded(%L, %L, %L)',
                           bound.name, bound.col, bound.tab, bound.col, bound.maximum, bound.name);
            RAISE WARNING 'rows of % written before % existed exceed it: they are kept, and the bound is a trigger on writes of %',
                bound.tab, bound.name, bound.col;
        END;
    END LOOP;
END
$$;

-- Every number in a rule's parameters (prices, fees, units, bands, per-mille rates) is from 0 to 10^15.
-- Versions are never updated (append-only), so a CHECK that old rows do not satisfy stops nothing.
ALTER TABLE pricing_rule_versions ADD CONSTRAINT pricing_rule_versions_parameters_bounded CHECK (
    NOT jsonb_path_exists(parameters, '$.** ? (@.type() == "number" && (@ < 0 || @ > 1000000000000000))')) NOT VALID;
DO $$
BEGIN
    ALTER TABLE pricing_rule_versions VALIDATE CONSTRAINT pricing_rule_versions_parameters_bounded;
EXCEPTION WHEN check_violation THEN
    RAISE WARNING 'pricing rule versions written before pricing_rule_versions_parameters_bounded existed exceed it: they are kept';
END
$$;
