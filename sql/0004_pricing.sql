-- Fair-pricing rules (rule 5 of DOMAIN.md). A rule has versions; each carries its kind's parameters
-- (as Market's PricingRule.Kind, in JSON), its scope, when it takes effect, when it is due for review,
-- who made it and why. Increases take effect only after a notice period (MarketStore enforces it);
-- orders keep the quote they were placed with, which names the rule versions used.

CREATE TABLE pricing_rules (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('cap', 'publicInterestExemption', 'tiers', 'smallMicroDiscount',
                                                'priorityScenarioDiscount', 'usagePlan', 'trialPrice')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz,
    retired_by     text,
    retired_reason text,
    CONSTRAINT pricing_rules_retirement_complete CHECK (
        (retired_at IS NULL) = (retired_by IS NULL) AND (retired_at IS NULL) = (retired_reason IS NULL))
);

CREATE TABLE pricing_rule_versions (
    rule_id      bigint NOT NULL REFERENCES pricing_rules,
    version      integer NOT NULL CHECK (version >= 1),
    parameters   jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'object'),
    sector       text REFERENCES sectors,
    region_code  text CHECK (pdx_region_code_ok(region_code)),
    product_id   uuid REFERENCES products,
    operator_id  uuid REFERENCES parties,
    charge_unit  pdx_charge_unit,
    effective_at timestamptz NOT NULL,
    review_by    timestamptz NOT NULL,
    author       text NOT NULL CHECK (length(btrim(author)) BETWEEN 1 AND 200),
    reason       text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, version),
    CONSTRAINT pricing_rule_versions_review_after_effect CHECK (review_by > effective_at)
);
CREATE INDEX pricing_rule_versions_review ON pricing_rule_versions (review_by);

-- Versions are history: never edited, never deleted.
CREATE FUNCTION pdx_pricing_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pricing rule versions are history: % is refused; add a version instead', TG_OP
        USING ERRCODE = 'P0001', CONSTRAINT = 'pricing_rule_versions_append_only';
END
$$;
CREATE TRIGGER pricing_rule_versions_append_only BEFORE UPDATE OR DELETE ON pricing_rule_versions
    FOR EACH ROW EXECUTE FUNCTION pdx_pricing_versions_append_only();
