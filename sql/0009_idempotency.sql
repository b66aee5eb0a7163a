-- Idempotency-Key on POST requests: the first response is kept for 24 hours and replayed to a retry that
-- sends the same key and the same body; the same key with another body is refused. A row without a status
-- is a request still running (or one that died: after a minute another attempt may take it over).
CREATE TABLE idempotency_keys (
    party_id       uuid NOT NULL REFERENCES parties,
    key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256 bytea NOT NULL CHECK (length(request_sha256) = 32),
    status         smallint CHECK (status BETWEEN 100 AND 599),
    headers        jsonb,
    body           bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (party_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
