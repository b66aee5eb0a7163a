-- What storing proposals costs PostgreSQL, made smaller without changing a rule.
--
-- track_functions over a `pdx bench match`: the proposals' statement trigger called pdx_anti_monopoly_holder
-- once for every proposal (132,216 calls, ~20 µs each, ~1.6 ms of a 79-proposal statement), although its
-- query asks the function only for demanders who are operators or affiliated. The planner orders a WHERE's
-- conditions by their estimated cost, and the function, declared at PL/pgSQL's default cost, looked cheaper
-- than the probe of party_affiliations beside it. A CASE fixes the order; the declared cost tells every
-- other caller (the orders' checks, the hard-rule audit) what the function costs when it has work.
ALTER FUNCTION pdx_anti_monopoly_holder(uuid, uuid, integer) COST 10000;

-- As in 0022, the function's call guarded by a CASE.
CREATE OR REPLACE FUNCTION pdx_matches_proposed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    party record;
    breaking record;
BEGIN
    FOR party IN
        SELECT p.id, p.kind, p.state FROM parties p WHERE p.id IN (
            SELECT d.demander_id FROM proposed i JOIN demands d ON d.id = i.demand_id
            UNION SELECT o.operator_id FROM proposed i JOIN products o ON o.id = i.product_id)
        ORDER BY p.id FOR KEY SHARE
    LOOP
        IF party.state <> 'active' THEN
            RAISE EXCEPTION 'the % % is %', party.kind, party.id, party.state USING ERRCODE = 'P0001', CONSTRAINT = 'party_not_active';
        END IF;
    END LOOP;
    SELECT d.demander_id, i.product_id, i.product_version INTO breaking
    FROM proposed i JOIN demands d ON d.id = i.demand_id JOIN parties b ON b.id = d.demander_id
    WHERE CASE WHEN b.kind = 'operator' OR EXISTS (SELECT 1 FROM party_affiliations f
                                                   WHERE f.ended_at IS NULL AND (f.party_id = b.id OR f.affiliate_id = b.id))
               THEN pdx_anti_monopoly_holder(d.demander_id, i.product_id, i.product_version) IS NOT NULL
               ELSE false END
    LIMIT 1;
    IF FOUND THEN
        PERFORM pdx_check_anti_monopoly(breaking.demander_id, breaking.product_id, breaking.product_version);
    END IF;
    RETURN NULL;
END
$$;

-- A new match's notification (0006), sent by one statement trigger for all the matches a statement inserts
-- instead of a PL/pgSQL call per row: the same payload for each match, in insertion order, delivered at
-- commit as before.
CREATE FUNCTION pdx_matches_notify_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pdx_matches', jsonb_build_object('id', id, 'state', state)::text) FROM inserted_matches;
    RETURN NULL;
END
$$;
DROP TRIGGER matches_notify_insert ON matches;
CREATE TRIGGER matches_notify_insert AFTER INSERT ON matches REFERENCING NEW TABLE AS inserted_matches
    FOR EACH STATEMENT EXECUTE FUNCTION pdx_matches_notify_inserted();
