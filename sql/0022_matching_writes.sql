-- A demand's first proposal moves it from open to matched (and a withdrawal may move it back). With `state`
-- in the predicate of demands_wanted_keys, PostgreSQL could never make that move a HOT update: every move
-- wrote a new entry in each of the table's indexes, the demand's match keys in the GIN index included, about
-- a millisecond of the statement that stores a demand's proposals. The index's predicate now reads a stored
-- column that moves between open and matched leave unchanged, and the table's pages keep room for the new
-- row version, so such a move touches no index at all.
ALTER TABLE demands ADD COLUMN live boolean GENERATED ALWAYS AS (state IN ('open', 'matched')) STORED;

-- Built in this migration's transaction (CONCURRENTLY cannot be): demand writes wait while it builds, a
-- second or so for tens of thousands of open demands. Queries that want the index say `AND d.live`.
DROP INDEX demands_wanted_keys;
CREATE INDEX demands_wanted_keys ON demands USING gin (pdx_wanted_keys(sector, regions, delivery_modes)) WITH (fastupdate = off)
    WHERE live;

-- New pages keep 15 % free for updated row versions (existing pages gain room as they are pruned).
ALTER TABLE demands SET (fillfactor = 85);

-- New proposals, per statement: their demanders and operators locked (FOR KEY SHARE, in id order) and
-- active, and none offering a demander a product inside its (or an affiliate's) own scope. As in 0017, with
-- the parties locked and checked by one query instead of two, and the anti-monopoly rule asked only for
-- demanders who are operators or affiliated with a party (for anyone else it holds by construction).
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
    WHERE (b.kind = 'operator' OR EXISTS (SELECT 1 FROM party_affiliations f
                                          WHERE f.ended_at IS NULL AND (f.party_id = b.id OR f.affiliate_id = b.id)))
      AND pdx_anti_monopoly_holder(d.demander_id, i.product_id, i.product_version) IS NOT NULL
    LIMIT 1;
    IF FOUND THEN
        PERFORM pdx_check_anti_monopoly(breaking.demander_id, breaking.product_id, breaking.product_version);
    END IF;
    RETURN NULL;
END
$$;
