-- Match events, for live monitoring (`pdxctl matches watch`) and anything else that wants to react to
-- matches without polling.
--
-- Channel: pdx_matches
-- Payload: a JSON object {"id": "<match uuid>", "state": "<state>"}, sent
--   - when a match is inserted (state "proposed"), and
--   - when its state changes (to "accepted", "declined" or "withdrawn").
-- NOTIFY is delivered when the transaction commits, so the row is visible to whoever reads it then; a
-- rolled-back proposal sends nothing. Listeners that reconnect miss what was sent meanwhile and should
-- re-read the matches table (by created_at) to catch up.
CREATE FUNCTION pdx_match_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pdx_matches', jsonb_build_object('id', NEW.id, 'state', NEW.state)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER matches_notify_insert AFTER INSERT ON matches
    FOR EACH ROW EXECUTE FUNCTION pdx_match_notify();
CREATE TRIGGER matches_notify_state AFTER UPDATE OF state ON matches
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION pdx_match_notify();

-- The monitoring reports read matches newest first, and a demand's matches by time (its first match,
-- whether it has any at all).
CREATE INDEX matches_created ON matches (created_at, id);
CREATE INDEX matches_demand_created ON matches (demand_id, created_at);
