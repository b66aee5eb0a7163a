-- The list checks of 0003 as PL/pgSQL. As SQL functions with subqueries they could not be inlined, so
-- PostgreSQL parsed and planned their bodies on every call (four times per demand written, more per
-- product version); PL/pgSQL keeps its plans for the session. Same rules, same results.
CREATE OR REPLACE FUNCTION pdx_region_codes_ok(codes text[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    code text;
    seen text[] := '{}';
BEGIN
    IF cardinality(codes) NOT BETWEEN 1 AND 500 THEN
        RETURN false;
    END IF;
    FOREACH code IN ARRAY codes LOOP
        IF code IS NULL OR NOT pdx_region_code_ok(code) OR code = ANY(seen) THEN
            RETURN false;
        END IF;
        seen := seen || code;
    END LOOP;
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION pdx_slugs_ok(slugs text[], allow_empty boolean) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    slug text;
    seen text[] := '{}';
BEGIN
    IF cardinality(slugs) > 200 OR (NOT allow_empty AND cardinality(slugs) = 0) THEN
        RETURN false;
    END IF;
    FOREACH slug IN ARRAY slugs LOOP
        IF slug IS NULL OR slug !~ '^[a-z0-9][a-z0-9_.-]{0,63}$' OR slug = ANY(seen) THEN
            RETURN false;
        END IF;
        seen := seen || slug;
    END LOOP;
    RETURN true;
END
$$;
