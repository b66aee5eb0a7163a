-- Issue 19: the console (/console in pdx serve). Administrators sign in with keys of their own; parties with
-- their API keys. A signed-in browser holds a session: a random token in an HttpOnly cookie, of which only
-- the SHA-256 is stored here, with its CSRF token and its expiry. A session lives only as long as the key it
-- was opened with: revoking or expiring the key (or suspending its party) ends it at the next request.

CREATE TABLE admin_keys (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Who the administrator is: written into the audit trail as admin:<name> for what the console changes.
    name       text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$'),
    prefix     text NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
    key_sha256 bytea NOT NULL CHECK (length(key_sha256) = 32),
    label      text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    CONSTRAINT admin_keys_expiry_after_creation CHECK (expires_at > created_at)
);

CREATE TABLE console_sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    admin_key_id uuid REFERENCES admin_keys,
    api_key_id   uuid REFERENCES api_keys,
    csrf_token   text NOT NULL CHECK (csrf_token ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    CONSTRAINT console_sessions_one_key CHECK ((admin_key_id IS NULL) <> (api_key_id IS NULL)),
    CONSTRAINT console_sessions_expiry_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE INDEX console_sessions_admin_key ON console_sessions (admin_key_id) WHERE admin_key_id IS NOT NULL;
CREATE INDEX console_sessions_api_key ON console_sessions (api_key_id) WHERE api_key_id IS NOT NULL;

-- A demand's two milestones, kept on its row (the overview reads 20,000 demands in one scan instead of
-- aggregating their state stays): when it first opened, and when it got its first proposal (its first move to
-- 'matched', which only a proposal makes). Set by the database on every path that changes the state, from the
-- same time the state stays record; never changed once set.
ALTER TABLE demands ADD COLUMN opened_at timestamptz, ADD COLUMN first_proposed_at timestamptz;
UPDATE demands d SET opened_at = s.opened, first_proposed_at = s.matched
FROM (SELECT demand_id, min(entered_at) FILTER (WHERE state = 'open') AS opened, min(entered_at) FILTER (WHERE state = 'matched') AS matched
      FROM demand_state_stays GROUP BY demand_id) s
WHERE s.demand_id = d.id;

CREATE FUNCTION pdx_demand_milestones() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.opened_at := OLD.opened_at;
        NEW.first_proposed_at := OLD.first_proposed_at;
    END IF;
    IF NEW.state = 'open' AND NEW.opened_at IS NULL THEN
        NEW.opened_at := NEW.state_changed_at;
    END IF;
    IF NEW.state = 'matched' AND NEW.first_proposed_at IS NULL THEN
        NEW.first_proposed_at := NEW.state_changed_at;
        NEW.opened_at := coalesce(NEW.opened_at, NEW.state_changed_at);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER demands_milestones BEFORE INSERT OR UPDATE ON demands FOR EACH ROW EXECUTE FUNCTION pdx_demand_milestones();
CREATE INDEX demands_opened ON demands (opened_at) WHERE opened_at IS NOT NULL;
-- The orders of a day (the overview), of every product at once.
CREATE INDEX orders_created ON orders (created_at);
-- The audit search by actor and by action, newest first.
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);

-- How often each product's page was read (GET /v1/products/{id}), per UTC day: counted in memory by each API
-- process and added here every few seconds (what an operator's console page plots as views).
CREATE TABLE product_views (
    product_id uuid NOT NULL REFERENCES products,
    day        date NOT NULL,
    views      bigint NOT NULL CHECK (views >= 0),
    PRIMARY KEY (product_id, day)
);
