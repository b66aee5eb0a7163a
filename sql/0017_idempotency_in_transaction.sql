-- An Idempotency-Key is now recorded with its response in the transaction of the request's action, so
-- that a crash leaves both or neither: a row is always a finished request. Rows of requests that were
-- still running (or died) under the old scheme are claims without a response; forget them, so that a
-- retry runs the request (their action either never committed, or committed without its key, which the
-- old scheme could not tell apart).
DELETE FROM idempotency_keys WHERE status IS NULL;
ALTER TABLE idempotency_keys
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN headers SET NOT NULL,
    ALTER COLUMN body SET NOT NULL;
