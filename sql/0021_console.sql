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

-- The overview's "opened per day" and "time to first proposal" read when demands opened.
CREATE INDEX demand_state_stays_opened ON demand_state_stays (entered_at) WHERE state = 'open';
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
