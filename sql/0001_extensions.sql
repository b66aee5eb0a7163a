-- Extensions the schema relies on. Both ship with PostgreSQL (contrib) and are trusted, so the
-- database owner can create them without superuser rights.
--   pg_trgm:    trigram similarity and GIN/GiST indexes; works on Chinese text, where words are not
--               separated by spaces (used by matching and catalogue search).
--   btree_gist: lets exclusion constraints mix equality on scalar columns with range overlap (used to
--               make overlapping single-operator authorizations impossible).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gist;
