-- API keys for the HTTP API: `pdx_<prefix>_<secret>`. Only the SHA-256 of the whole key is stored; the
-- prefix finds the row, the hash proves the key. A revoked key stays (for the audit trail) and is refused.
CREATE TABLE api_keys (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    party_id   uuid NOT NULL REFERENCES parties,
    prefix     text NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
    key_sha256 bytea NOT NULL CHECK (length(key_sha256) = 32),
    label      text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_party ON api_keys (party_id);
