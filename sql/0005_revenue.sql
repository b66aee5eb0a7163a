-- Maximum allowed revenue (最高准许收入) per operator per calendar year (UTC): operating cost, allowed
-- profit and tax, set by the administrator. Revenue is the amount of the operator's orders accepted,
-- delivered or completed in the year; revenue above the allowance is reported and deducted from the
-- next year's allowance (MarketStore.revenueReport computes both).
CREATE TABLE revenue_allowances (
    operator_id   uuid NOT NULL,
    operator_kind pdx_party_kind NOT NULL DEFAULT 'operator' CHECK (operator_kind = 'operator'),
    year          integer NOT NULL CHECK (year BETWEEN 2000 AND 2200),
    allowance_fen bigint NOT NULL CHECK (allowance_fen >= 0),
    set_by        text NOT NULL CHECK (length(btrim(set_by)) BETWEEN 1 AND 200),
    reason        text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    set_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator_id, year),
    FOREIGN KEY (operator_id, operator_kind) REFERENCES parties (id, kind)
);

CREATE INDEX orders_revenue ON orders (product_id, created_at) WHERE state IN ('accepted', 'delivered', 'completed');
