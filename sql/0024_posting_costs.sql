-- What storing a demand costs PostgreSQL, made smaller without changing a rule or a result.
--
-- Measured with track_functions = all over `pdx bench api`'s POST phase, the functions a demand's insert runs
-- took about as much of the server's time as everything else in the request: SQL functions PostgreSQL could
-- not inline parse and plan their bodies again at every statement, and two triggers ran two queries for each
-- check they make.

-- MARK: Inlinable region functions
--
-- A STRICT SQL function is inlined only when its body is strict too, and a CASE or an AND is not: these three
-- ran as function calls, each planning its body, instead of as expressions. Without STRICT they are inlined;
-- a NULL code gives NULL as before (pdx_region_code_ok's body is NULL for a NULL code by itself).
ALTER FUNCTION pdx_region_code_ok(text) CALLED ON NULL INPUT;

CREATE OR REPLACE FUNCTION pdx_region_span(code text) RETURNS int4range
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN code IS NULL THEN NULL
                WHEN right(code, 4) = '0000' THEN int4range(code::int, code::int + 10000)
                WHEN right(code, 2) = '00' THEN int4range(code::int, code::int + 100)
                ELSE int4range(code::int, code::int + 1) END;

CREATE OR REPLACE FUNCTION pdx_region_lineage(code text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN code IS NULL THEN NULL
                WHEN right(code, 4) = '0000' THEN ARRAY[code]
                WHEN right(code, 2) = '00' OR substr(code, 3, 2) = '00' THEN ARRAY[code, left(code, 2) || '0000']
                ELSE ARRAY[code, left(code, 4) || '00', left(code, 2) || '0000'] END;

-- MARK: Match keys
--
-- The same keys, in the same order (distinct, sorted by the database's collation, a NULL last), built by a
-- loop PL/pgSQL evaluates as plain expressions, and one sort whose plan PL/pgSQL keeps for the session; the
-- SQL bodies were planned again for every demand stored (pdx_wanted_keys is demands_wanted_keys' expression,
-- ~0.3 ms of each insert) and every product listed. The results being equal, the indexes built on the old
-- bodies stay valid. Declared at the cost 0023 gave them (CREATE OR REPLACE would reset it).
CREATE OR REPLACE FUNCTION pdx_offered_keys(sector text, regions text[], modes pdx_delivery_mode[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 1000 AS $$
DECLARE
    keys text[] := '{}';
    r text;
    a text;
    m pdx_delivery_mode;
BEGIN
    FOREACH r IN ARRAY coalesce(regions, '{}') LOOP
        FOREACH m IN ARRAY coalesce(modes, '{}') LOOP
            keys := keys || (sector || '/' || r || '/' || m::text);
            FOREACH a IN ARRAY coalesce(pdx_region_lineage(r), '{}') LOOP
                keys := keys || (sector || '/^' || a || '/' || m::text);
            END LOOP;
        END LOOP;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT k FROM unnest(keys) AS k ORDER BY k);
END
$$;

CREATE OR REPLACE FUNCTION pdx_wanted_keys(sector text, regions text[], modes pdx_delivery_mode[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 1000 AS $$
DECLARE
    keys text[] := '{}';
    r text;
    a text;
    m pdx_delivery_mode;
BEGIN
    FOREACH r IN ARRAY coalesce(regions, '{}') LOOP
        FOREACH m IN ARRAY coalesce(modes, '{}') LOOP
            FOREACH a IN ARRAY coalesce(pdx_region_lineage(r), '{}') LOOP
                keys := keys || (sector || '/' || a || '/' || m::text);
            END LOOP;
            keys := keys || (sector || '/^' || r || '/' || m::text);
        END LOOP;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT k FROM unnest(keys) AS k ORDER BY k);
END
$$;

-- MARK: Triggers of a demand's insert
--
-- PERFORM of a function that runs a query is two queries: the PERFORM's own SELECT, then the function's.
-- The party check reads the party directly (the lock, the rule and the error as pdx_require_active_party's),
-- and a demand's sector and scenario are checked by one query, the error's list of known codes built only
-- when one is unknown.
CREATE OR REPLACE FUNCTION pdx_parties_active() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row jsonb := to_jsonb(NEW);
    party uuid;
    found pdx_party_state;
BEGIN
    FOR i IN 0 .. TG_NARGS - 1 LOOP
        party := (row ->> TG_ARGV[i])::uuid;
        SELECT state INTO found FROM parties WHERE id = party FOR KEY SHARE;
        IF found IS DISTINCT FROM 'active' AND found IS NOT NULL THEN
            PERFORM pdx_require_active_party(party, replace(replace(TG_ARGV[i], '_id', ''), '_', ' '));
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION pdx_demands_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM sectors WHERE code = NEW.sector) OR NOT EXISTS (SELECT FROM scenarios WHERE code = NEW.scenario) THEN
        PERFORM pdx_require_known(ARRAY[NEW.sector], 'sector', 'sectors');
        PERFORM pdx_require_known(ARRAY[NEW.scenario], 'scenario', 'scenarios');
    END IF;
    RETURN NEW;
END
$$;
