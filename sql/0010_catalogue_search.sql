-- Catalogue search: words of a product's title, description and tags, in any language, through a trigram
-- index (pg_trgm, from 0001) that ILIKE '%words%' can use; the id order of pages is the primary key's.
CREATE FUNCTION pdx_catalogue_text(title text, description text, tags text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN title || ' ' || description || ' ' || array_to_string(tags, ' ');

CREATE INDEX catalogue_text ON catalogue USING gin (pdx_catalogue_text(title, description, tags) gin_trgm_ops);
