-- Money and quantities have bounds (the API and MarketStore check them first; this is the second line,
-- for every writer): a unit price at most 10^10 fen (100 million yuan), an amount (a budget, a quote,
-- an order, an allowance, a number in a pricing rule) at most 10^15 fen (10 trillion yuan); quantities
-- were bounded at 10^12 from the start. Within these, a unit price times a quantity fits 64 bits only
-- when it is an amount an order may have, and sums are taken in numeric (no sum can overflow).
--
-- Rows written before these bounds existed are kept: each constraint checks new and changed rows, and
-- is validated against the old ones only when they all satisfy it (else a warning names it).

ALTER TABLE product_versions ADD CONSTRAINT product_versions_list_price_bounded CHECK (list_price_fen <= 10000000000) NOT VALID;
ALTER TABLE demands ADD CONSTRAINT demands_budget_bounded CHECK (budget_fen <= 1000000000000000) NOT VALID;
ALTER TABLE matches ADD CONSTRAINT matches_quote_bounded CHECK (quote_fen <= 1000000000000000) NOT VALID;
ALTER TABLE orders ADD CONSTRAINT orders_amount_bounded CHECK (amount_fen <= 1000000000000000) NOT VALID;
ALTER TABLE revenue_allowances ADD CONSTRAINT revenue_allowances_bounded CHECK (allowance_fen <= 1000000000000000) NOT VALID;
-- Every number in a rule's parameters (prices, fees, units, bands, per-mille rates) is from 0 to 10^15.
ALTER TABLE pricing_rule_versions ADD CONSTRAINT pricing_rule_versions_parameters_bounded CHECK (
    NOT jsonb_path_exists(parameters, '$.** ? (@.type() == "number" && (@ < 0 || @ > 1000000000000000))')) NOT VALID;

DO $$
DECLARE
    bound record;
BEGIN
    FOR bound IN
        SELECT conrelid::regclass AS tab, conname AS name FROM pg_constraint
        WHERE conname IN ('product_versions_list_price_bounded', 'demands_budget_bounded', 'matches_quote_bounded',
                          'orders_amount_bounded', 'revenue_allowances_bounded', 'pricing_rule_versions_parameters_bounded')
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', bound.tab, bound.name);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'rows of % written before % existed exceed it: they are kept, and new or changed rows are checked',
                bound.tab, bound.name;
        END;
    END LOOP;
END
$$;
