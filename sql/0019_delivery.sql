-- Orders that deliver: entitlements, the keys their tokens are signed with, metered usage, statements
-- and the settlement ledger. The database keeps what must hold on every path: an entitlement exists
-- exactly when its order was delivered, and its state follows its causes (the authorizations its
-- product rests on, its buyer, its seller, its end) in the transaction that changes them; usage is
-- counted once per event id; statements and the ledger are append-only, and the ledger balances.

-- MARK: Jobs enqueued by the database

-- A job as JobQueue's `enqueue` writes it (its arguments as Swift's JSONEncoder writes them: dates as
-- seconds since 2001-01-01), for the triggers below; the workers are woken as `enqueue` wakes them.
CREATE FUNCTION pdx_enqueue_job(job_kind text, job_args jsonb, run_at timestamptz DEFAULT NULL, key text DEFAULT NULL,
                                attempts smallint DEFAULT 20) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pdx_jobs (queue, kind, args, max_attempts, scheduled_at, state, unique_key)
    VALUES ('default', job_kind, job_args, attempts, coalesce(run_at, now()),
            CASE WHEN run_at > now() THEN 'scheduled' ELSE 'available' END::pdx_job_state, key)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable') DO NOTHING;
    IF run_at IS NULL OR run_at <= now() THEN
        PERFORM pg_notify('pdx_jobs', 'default');
    END IF;
END
$$;

-- A `notify` job (MarketJobs.NotifyJob) of an event to a party, when it has a webhook.
CREATE FUNCTION pdx_notify_party(party uuid, event_type text, subject uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM parties WHERE id = party AND webhook_url IS NOT NULL) THEN
        PERFORM pdx_enqueue_job('notify', jsonb_build_object(
            'eventID', gen_random_uuid(), 'partyID', party, 'type', event_type, 'subjectID', subject,
            'occurredAt', extract(epoch FROM now()) - 978307200), attempts => 16::smallint);
    END IF;
END
$$;

-- MARK: Entitlements

CREATE TYPE pdx_entitlement_state AS ENUM ('active', 'suspended', 'expired', 'revoked');

-- What a delivered order entitles its buyer to: its product's version, for the scenario and purpose the
-- buyer declared, from delivery to the end date; metered in the product's charge unit (calls or records:
-- at most the units ordered) or not (items and hours: delivered once, billed once).
CREATE TABLE entitlements (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id         uuid NOT NULL UNIQUE REFERENCES orders,
    buyer_id         uuid NOT NULL REFERENCES parties,
    seller_id        uuid NOT NULL REFERENCES parties,
    product_id       uuid NOT NULL,
    product_version  integer NOT NULL,
    scenario         text,
    purpose          pdx_purpose NOT NULL,
    charge_unit      pdx_charge_unit NOT NULL,
    -- NULL: unmetered.
    units_granted    bigint CHECK (units_granted BETWEEN 1 AND 1000000000000),
    units_used       bigint NOT NULL DEFAULT 0,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    state            pdx_entitlement_state NOT NULL DEFAULT 'active',
    state_reason     text,
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (product_id, product_version) REFERENCES product_versions,
    CONSTRAINT entitlements_term CHECK (ends_at > starts_at),
    CONSTRAINT entitlements_units CHECK (units_used >= 0 AND (units_granted IS NULL OR units_used <= units_granted)),
    CONSTRAINT entitlements_metered_used CHECK (units_granted IS NOT NULL OR units_used = 0)
);
CREATE INDEX entitlements_buyer ON entitlements (buyer_id, id);
CREATE INDEX entitlements_seller ON entitlements (seller_id, id);
CREATE INDEX entitlements_product ON entitlements (product_id);
CREATE INDEX entitlements_running ON entitlements (ends_at) WHERE state IN ('active', 'suspended');

-- The state an entitlement's causes give it now, and why. Expired and revoked are final.
CREATE FUNCTION pdx_entitlement_standing(e entitlements, OUT next pdx_entitlement_state, OUT why text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    buyer_state pdx_party_state;
    seller_state pdx_party_state;
    lapsed record;
BEGIN
    IF e.state IN ('expired', 'revoked') THEN
        next := e.state; why := e.state_reason; RETURN;
    END IF;
    IF e.ends_at <= now() THEN
        next := 'expired'; why := 'reached its end date'; RETURN;
    END IF;
    SELECT state INTO buyer_state FROM parties WHERE id = e.buyer_id;
    SELECT state INTO seller_state FROM parties WHERE id = e.seller_id;
    IF buyer_state = 'closed' THEN next := 'revoked'; why := 'the buyer closed'; RETURN; END IF;
    IF seller_state = 'closed' THEN next := 'revoked'; why := 'the seller closed'; RETURN; END IF;
    SELECT a.id, a.state INTO lapsed FROM authorizations a
    WHERE a.id IN (SELECT pdx_lineage_grants(e.product_id)) AND a.state <> 'active'
    ORDER BY a.state = 'suspended', a.id LIMIT 1;
    IF lapsed.state IN ('revoked', 'expired') THEN
        next := 'revoked'; why := format('authorization %s %s', lapsed.id, lapsed.state); RETURN;
    END IF;
    IF buyer_state = 'suspended' THEN next := 'suspended'; why := 'the buyer is suspended'; RETURN; END IF;
    IF seller_state = 'suspended' THEN next := 'suspended'; why := 'the seller is suspended'; RETURN; END IF;
    IF lapsed.state = 'suspended' THEN
        next := 'suspended'; why := format('authorization %s suspended', lapsed.id); RETURN;
    END IF;
    next := 'active'; why := NULL;
END
$$;

-- Moves the given entitlements to the state their causes give them, telling both parties of each change
-- (entitlement.suspended, entitlement.reinstated, entitlement.revoked, entitlement.expired).
CREATE FUNCTION pdx_entitlements_refresh(ids uuid[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    changed record;
    moved integer := 0;
BEGIN
    FOR changed IN
        WITH standing AS (
            SELECT e.id, s.next, s.why FROM entitlements e CROSS JOIN LATERAL pdx_entitlement_standing(e) s
            WHERE e.id = ANY(ids) AND e.state IN ('active', 'suspended') ORDER BY e.id FOR UPDATE OF e
        )
        UPDATE entitlements e SET state = s.next, state_reason = s.why, state_changed_at = now()
        FROM standing s WHERE s.id = e.id AND s.next <> e.state
        RETURNING e.id, e.state, e.buyer_id, e.seller_id
    LOOP
        moved := moved + 1;
        PERFORM pdx_notify_party(changed.buyer_id, 'entitlement.' || CASE changed.state WHEN 'active' THEN 'reinstated' ELSE changed.state::text END, changed.id);
        PERFORM pdx_notify_party(changed.seller_id, 'entitlement.' || CASE changed.state WHEN 'active' THEN 'reinstated' ELSE changed.state::text END, changed.id);
    END LOOP;
    RETURN moved;
END
$$;

-- Delivery creates the entitlement (in the delivery's transaction) and schedules its expiry.
CREATE FUNCTION pdx_orders_entitle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    created entitlements;
BEGIN
    INSERT INTO entitlements (order_id, buyer_id, seller_id, product_id, product_version, scenario, purpose, charge_unit,
                              units_granted, starts_at, ends_at)
    SELECT NEW.id, NEW.buyer_id, p.operator_id, NEW.product_id, NEW.product_version, NEW.scenario, NEW.purpose, v.charge_unit,
           CASE WHEN v.charge_unit IN ('call', 'record') THEN NEW.quantity END,
           NEW.entitlement_starts_at, NEW.entitlement_ends_at
    FROM products p JOIN product_versions v ON v.product_id = NEW.product_id AND v.version = NEW.product_version
    WHERE p.id = NEW.product_id
    RETURNING * INTO created;
    PERFORM pdx_entitlements_refresh(ARRAY[created.id]);
    PERFORM pdx_enqueue_job('expire_entitlement', jsonb_build_object('entitlementID', created.id), created.ends_at,
                            'expire_entitlement:' || created.id);
    -- The month it starts in will be billed: its close is scheduled (a day after the month ends), once.
    PERFORM pdx_enqueue_job('close_period', jsonb_build_object('period', to_char(created.starts_at AT TIME ZONE 'UTC', 'YYYY-MM'), 'scheduleNext', true),
                            (date_trunc('month', created.starts_at AT TIME ZONE 'UTC') + interval '1 month 1 day') AT TIME ZONE 'UTC',
                            'close_period:' || to_char(created.starts_at AT TIME ZONE 'UTC', 'YYYY-MM'));
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_entitle AFTER UPDATE OF state ON orders
    FOR EACH ROW WHEN (NEW.state = 'delivered' AND OLD.state IN ('placed', 'accepted')) EXECUTE FUNCTION pdx_orders_entitle();

-- An authorization's change reaches every entitlement to a product resting on it.
CREATE FUNCTION pdx_authorizations_entitlements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_entitlements_refresh(ARRAY(
        SELECT e.id FROM entitlements e WHERE e.product_id IN (SELECT pdx_built_on(NEW.id)) AND e.state IN ('active', 'suspended')));
    RETURN NULL;
END
$$;
CREATE TRIGGER authorizations_entitlements AFTER UPDATE OF state ON authorizations
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION pdx_authorizations_entitlements();

-- A party's change reaches its entitlements as buyer and as seller.
CREATE FUNCTION pdx_parties_entitlements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_entitlements_refresh(ARRAY(
        SELECT e.id FROM entitlements e WHERE (e.buyer_id = NEW.id OR e.seller_id = NEW.id) AND e.state IN ('active', 'suspended')));
    RETURN NULL;
END
$$;
CREATE TRIGGER parties_entitlements AFTER UPDATE OF state ON parties
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION pdx_parties_entitlements();

-- What gateways that ask pdx (POST /v1/entitlements/verify) keep in memory is dropped when it changes.
CREATE FUNCTION pdx_entitlements_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pdx_entitlements', NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER entitlements_announce AFTER UPDATE OF state, ends_at ON entitlements
    FOR EACH ROW EXECUTE FUNCTION pdx_entitlements_announce();

-- Orders delivered before this migration get their entitlements, unmetered (they were priced and
-- counted as revenue whole when placed; their statements are issued below).
INSERT INTO entitlements (order_id, buyer_id, seller_id, product_id, product_version, scenario, purpose, charge_unit, starts_at, ends_at,
                          state, state_reason)
SELECT o.id, o.buyer_id, p.operator_id, o.product_id, o.product_version, o.scenario, o.purpose, v.charge_unit,
       coalesce(o.entitlement_starts_at, o.state_changed_at), greatest(o.entitlement_ends_at, coalesce(o.entitlement_starts_at, o.state_changed_at) + interval '1 second'),
       CASE WHEN o.entitlement_ends_at <= now() THEN 'expired' ELSE 'active' END::pdx_entitlement_state,
       CASE WHEN o.entitlement_ends_at <= now() THEN 'reached its end date' END
FROM orders o JOIN products p ON p.id = o.product_id
JOIN product_versions v ON v.product_id = o.product_id AND v.version = o.product_version
WHERE o.state IN ('delivered', 'completed') AND o.entitlement_ends_at IS NOT NULL;
SELECT pdx_entitlements_refresh(ARRAY(SELECT id FROM entitlements WHERE state = 'active'));
SELECT pdx_enqueue_job('expire_entitlement', jsonb_build_object('entitlementID', id), ends_at, 'expire_entitlement:' || id)
FROM entitlements WHERE state IN ('active', 'suspended');

-- What API servers keep in memory of API keys and their parties (Sources/MarketAPI/AccessCache.swift) is
-- dropped when either changes: a key by its prefix, a party's keys by `party:<id>`.
CREATE FUNCTION pdx_api_keys_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'api_keys' THEN
        PERFORM pg_notify('pdx_api_keys', OLD.prefix);
    ELSE
        PERFORM pg_notify('pdx_api_keys', 'party:' || OLD.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_announce AFTER UPDATE OR DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION pdx_api_keys_announce();
CREATE TRIGGER parties_announce AFTER UPDATE ON parties FOR EACH ROW EXECUTE FUNCTION pdx_api_keys_announce();

-- MARK: Signing keys

-- The keys entitlement tokens are signed with (ES256). One signs at a time; a retired key stays published
-- at /.well-known/jwks.json while tokens it signed can still be valid (their longest life, an hour).
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{8,64}$'),
    algorithm   text NOT NULL CHECK (algorithm = 'ES256'),
    -- The raw P-256 private scalar. Readable by whoever can read this table: the database's access
    -- control is the key's.
    private_key bytea NOT NULL CHECK (length(private_key) = 32),
    public_jwk  jsonb NOT NULL CHECK (jsonb_typeof(public_jwk) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    retired_at  timestamptz CHECK (retired_at >= created_at)
);
CREATE UNIQUE INDEX signing_keys_one_signing ON signing_keys ((true)) WHERE retired_at IS NULL;
CREATE FUNCTION pdx_signing_keys_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pdx_signing_keys', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER signing_keys_announce AFTER INSERT OR UPDATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION pdx_signing_keys_announce();

-- MARK: Usage

-- One row per usage event an operator reported, kept once per (operator, event id): a resent event is
-- found here and not counted again, whichever API replica receives it. (No foreign key to the
-- entitlement: the ingesting statement locks and checks it, and a key check per event would cost more.)
CREATE TABLE usage_events (
    seller_id      uuid NOT NULL,
    event_id       text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 128),
    entitlement_id uuid NOT NULL,
    units          bigint NOT NULL CHECK (units BETWEEN 1 AND 1000000000000),
    occurred_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (seller_id, event_id)
) WITH (autovacuum_vacuum_insert_scale_factor = 0.05);

-- Units per entitlement and UTC day, kept with the events: what buyers and operators read, and what
-- statements price.
CREATE TABLE usage_daily (
    entitlement_id uuid NOT NULL REFERENCES entitlements,
    day            date NOT NULL,
    units          bigint NOT NULL CHECK (units >= 0),
    PRIMARY KEY (entitlement_id, day)
);
CREATE INDEX usage_daily_day ON usage_daily (day);

-- MARK: Billing periods, statements, the ledger

-- The months closed (or being closed). Usage that occurred before the end of the last one is too old to
-- bill; a close takes this table's advisory lock exclusively while ingestion takes it shared, so no
-- batch can add to a month once its close began.
CREATE TABLE billing_periods (
    period            date PRIMARY KEY CHECK (period = date_trunc('month', period)::date),
    closing_started_at timestamptz NOT NULL DEFAULT now(),
    started_by        text NOT NULL,
    closed_at         timestamptz,
    statements        integer,
    amount_fen        numeric
);

ALTER TABLE authorizations ADD COLUMN agency_share_permille integer NOT NULL DEFAULT 0
    CONSTRAINT authorizations_agency_share CHECK (agency_share_permille BETWEEN 0 AND 1000);

-- What a buyer owes for one entitlement in one month, priced by the pure engine; or an adjusting
-- statement correcting an earlier one. Never changed or removed.
CREATE TABLE statements (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    period           date NOT NULL CHECK (period = date_trunc('month', period)::date),
    entitlement_id   uuid NOT NULL REFERENCES entitlements,
    buyer_id         uuid NOT NULL REFERENCES parties,
    seller_id        uuid NOT NULL REFERENCES parties,
    agency_id        uuid REFERENCES parties,
    kind             text NOT NULL CHECK (kind IN ('regular', 'adjusting')),
    adjusts          uuid REFERENCES statements,
    units            bigint NOT NULL CHECK (units >= 0),
    amount_fen       bigint NOT NULL CHECK (amount_fen BETWEEN -1000000000000000 AND 1000000000000000),
    agency_share_fen bigint NOT NULL,
    lines            jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
    rules            jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'array'),
    priced_at        timestamptz NOT NULL,
    reason           text CHECK (length(reason) <= 2000),
    issued_by        text NOT NULL,
    issued_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT statements_adjusting CHECK ((kind = 'adjusting') = (adjusts IS NOT NULL) AND (kind = 'regular' OR reason IS NOT NULL)),
    CONSTRAINT statements_regular_amount CHECK (kind = 'adjusting' OR amount_fen >= 0),
    CONSTRAINT statements_share CHECK (abs(agency_share_fen) <= abs(amount_fen) AND sign(agency_share_fen) * sign(amount_fen) >= 0)
);
CREATE UNIQUE INDEX statements_once ON statements (entitlement_id, period) WHERE kind = 'regular';
CREATE INDEX statements_buyer ON statements (buyer_id, period);
CREATE INDEX statements_seller ON statements (seller_id, period);
CREATE INDEX statements_period ON statements (period);

-- Double entry in fen: a statement's amount is owed by its buyer (negative) and earned by its seller and,
-- for its share, the agency that granted the authorization (positive). Every statement's entries sum to
-- zero, and the buyer's to minus its amount.
CREATE TABLE ledger_entries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    statement_id uuid NOT NULL REFERENCES statements,
    period       date NOT NULL,
    party_id     uuid NOT NULL REFERENCES parties,
    account      text NOT NULL CHECK (account IN ('buyer', 'seller', 'agency')),
    amount_fen   bigint NOT NULL CHECK (amount_fen <> 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_statement ON ledger_entries (statement_id);
CREATE INDEX ledger_entries_period ON ledger_entries (period, party_id);

CREATE FUNCTION pdx_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: a correction is a new adjusting statement', TG_TABLE_NAME
        USING ERRCODE = 'P0001', CONSTRAINT = 'append_only';
END
$$;
CREATE TRIGGER statements_append_only BEFORE UPDATE OR DELETE ON statements FOR EACH ROW EXECUTE FUNCTION pdx_append_only();
CREATE TRIGGER statements_append_only_truncate BEFORE TRUNCATE ON statements FOR EACH STATEMENT EXECUTE FUNCTION pdx_append_only();
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION pdx_append_only();
CREATE TRIGGER ledger_append_only_truncate BEFORE TRUNCATE ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION pdx_append_only();

-- Checked at the end of every statement that writes statements or entries (issue both in one SQL
-- statement): each statement touched balances.
CREATE FUNCTION pdx_ledger_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
    broken uuid;
BEGIN
    IF TG_TABLE_NAME = 'statements' THEN
        ids := ARRAY(SELECT t.id FROM touched t);
    ELSE
        ids := ARRAY(SELECT DISTINCT t.statement_id FROM touched t);
    END IF;
    SELECT s.id INTO broken
    FROM statements s LEFT JOIN ledger_entries l ON l.statement_id = s.id
    WHERE s.id = ANY(ids)
    GROUP BY s.id, s.amount_fen
    HAVING coalesce(sum(l.amount_fen), 0) <> 0
        OR coalesce(sum(l.amount_fen) FILTER (WHERE l.account = 'buyer'), 0) <> -s.amount_fen
    LIMIT 1;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'the ledger entries of statement % do not balance', broken USING ERRCODE = 'P0001', CONSTRAINT = 'ledger_balanced';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER statements_balanced AFTER INSERT ON statements REFERENCING NEW TABLE AS touched
    FOR EACH STATEMENT EXECUTE FUNCTION pdx_ledger_balanced();
CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS touched
    FOR EACH STATEMENT EXECUTE FUNCTION pdx_ledger_balanced();

-- Orders delivered before this migration were priced whole when placed: each gets a regular statement of
-- its amount, in the month it was delivered, with its quote's lines, so revenue (now read from
-- statements) keeps them.
WITH issued AS (
    INSERT INTO statements (period, entitlement_id, buyer_id, seller_id, kind, units, amount_fen, agency_share_fen, lines, rules,
                            priced_at, issued_by)
    SELECT date_trunc('month', e.starts_at AT TIME ZONE 'UTC')::date, e.id, e.buyer_id, e.seller_id, 'regular', o.quantity, o.amount_fen, 0,
           coalesce(o.quote -> 'lines', '[]'), coalesce(o.quote -> 'rules', '[]'), o.created_at, 'pdx migrate'
    FROM entitlements e JOIN orders o ON o.id = e.order_id
    RETURNING id, period, buyer_id, seller_id, amount_fen
)
INSERT INTO ledger_entries (statement_id, period, party_id, account, amount_fen)
SELECT id, period, buyer_id, 'buyer', -amount_fen FROM issued WHERE amount_fen <> 0
UNION ALL
SELECT id, period, seller_id, 'seller', amount_fen FROM issued WHERE amount_fen <> 0;

-- Administrators hear of an operator passing its maximum allowed revenue through this webhook.
ALTER TABLE market_settings
    ADD COLUMN admin_webhook_url text CHECK (admin_webhook_url ~ '^https?://' AND length(admin_webhook_url) <= 2000),
    ADD COLUMN admin_webhook_secret text,
    ADD CONSTRAINT market_settings_admin_webhook CHECK ((admin_webhook_url IS NULL) = (admin_webhook_secret IS NULL));

-- Which operators' passing of their allowance administrators were told of (once per operator and year).
CREATE TABLE revenue_alerts (
    operator_id uuid NOT NULL REFERENCES parties,
    year        integer NOT NULL,
    revenue_fen numeric NOT NULL,
    allowance_fen numeric NOT NULL,
    alerted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator_id, year)
);
