-- The marketplace: parties, data resources, authorizations, products, demand requests, matches,
-- orders and the audit trail. The rules are those of DOMAIN.md; the database enforces what it can on
-- its own (kinds of parties, codes, grading, single-operator exclusivity, frozen product versions,
-- append-only audit), and MarketStore guards every state transition with `WHERE state = expected`.

-- MARK: Codes

-- Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from the 31 of
-- 0-9 and A-Y without I, O, S, V, Z; positions 3-8 hold an administrative division code; the last is
-- a check character over the first 17 with weights 3^(i-1) mod 31.
CREATE FUNCTION pdx_credit_code_ok(code text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHJKLMNPQRTUWXY';
    weights constant int[] := ARRAY[1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    total int := 0;
    value int;
BEGIN
    IF code !~ '^[0-9A-HJ-NPQRTUWXY]{18}$' THEN
        RETURN false;
    END IF;
    FOR i IN 1..17 LOOP
        value := strpos(alphabet, substr(code, i, 1)) - 1;
        total := total + value * weights[i];
    END LOOP;
    RETURN substr(alphabet, (31 - total % 31) % 31 + 1, 1) = substr(code, 18, 1);
END
$$;

-- Administrative division code (GB/T 2260): six digits, the first two a province-level division.
CREATE FUNCTION pdx_region_code_ok(code text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT code ~ '^[1-8][0-9]{5}$'
       AND substr(code, 1, 2) IN ('11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35',
                                  '36', '37', '41', '42', '43', '44', '45', '46', '50', '51', '52', '53', '54',
                                  '61', '62', '63', '64', '65', '71', '81', '82')
$$;

-- A non-empty list of distinct, valid region codes.
CREATE FUNCTION pdx_region_codes_ok(codes text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT cardinality(codes) BETWEEN 1 AND 500
       AND NOT EXISTS (SELECT 1 FROM unnest(codes) AS c WHERE c IS NULL OR NOT pdx_region_code_ok(c))
       AND cardinality(codes) = (SELECT count(DISTINCT c) FROM unnest(codes) AS c)
$$;

-- A list of distinct short lowercase identifiers (sectors, scenarios, tags, fields).
CREATE FUNCTION pdx_slugs_ok(slugs text[], allow_empty boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (allow_empty OR cardinality(slugs) > 0)
       AND cardinality(slugs) <= 200
       AND NOT EXISTS (SELECT 1 FROM unnest(slugs) AS s WHERE s IS NULL OR s !~ '^[a-z0-9][a-z0-9_.-]{0,63}$')
       AND cardinality(slugs) = (SELECT count(DISTINCT s) FROM unnest(slugs) AS s)
$$;

-- MARK: Parties

CREATE TYPE pdx_party_kind AS ENUM ('agency', 'operator', 'demander');

CREATE TABLE parties (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind            pdx_party_kind NOT NULL,
    name            text NOT NULL,
    credit_code     text NOT NULL,
    region_code     text NOT NULL,
    small_or_micro  boolean NOT NULL DEFAULT false,
    webhook_url     text,
    webhook_secret  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT parties_name_ok CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT parties_credit_code_ok CHECK (pdx_credit_code_ok(credit_code)),
    CONSTRAINT parties_credit_code_unique UNIQUE (credit_code),
    CONSTRAINT parties_region_code_ok CHECK (pdx_region_code_ok(region_code)),
    CONSTRAINT parties_webhook_url_ok CHECK (webhook_url ~ '^https?://[^\s]+$' AND length(webhook_url) <= 2000),
    -- Referenced together with the kind, so that a column can require a party of one kind.
    CONSTRAINT parties_id_kind UNIQUE (id, kind)
);

-- MARK: Sectors

CREATE TABLE sectors (
    code    text PRIMARY KEY CHECK (code ~ '^[a-z][a-z_]{1,39}$'),
    name_zh text NOT NULL,
    name_en text NOT NULL
);

INSERT INTO sectors (code, name_zh, name_en) VALUES
    ('finance', '金融', 'finance'),
    ('transport', '交通运输', 'transport'),
    ('energy', '能源', 'energy'),
    ('health', '医疗健康', 'health'),
    ('meteorology', '气象', 'meteorology'),
    ('commerce', '市场监管与商事', 'commerce and market regulation'),
    ('agriculture', '农业农村', 'agriculture'),
    ('natural_resources', '自然资源', 'natural resources'),
    ('urban_governance', '城市治理', 'urban governance'),
    ('education', '教育', 'education'),
    ('social_services', '民政与社会服务', 'social services');

-- MARK: Data resources

CREATE TYPE pdx_resource_grade AS ENUM ('general', 'important', 'core');

CREATE TABLE data_resources (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id           uuid NOT NULL,
    agency_kind         pdx_party_kind NOT NULL DEFAULT 'agency' CHECK (agency_kind = 'agency'),
    title               text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    description         text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    sector              text NOT NULL REFERENCES sectors,
    region_code         text NOT NULL CHECK (pdx_region_code_ok(region_code)),
    grade               pdx_resource_grade NOT NULL,
    personal_info       boolean NOT NULL DEFAULT false,
    -- The recorded de-identification step: how, when and by whom.
    deidentified_method text,
    deidentified_at     timestamptz,
    deidentified_by     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (agency_id, agency_kind) REFERENCES parties (id, kind),
    CONSTRAINT data_resources_deidentification_complete CHECK (
        (deidentified_method IS NULL) = (deidentified_at IS NULL)
        AND (deidentified_method IS NULL) = (deidentified_by IS NULL)
        AND (deidentified_method IS NULL OR length(btrim(deidentified_method)) BETWEEN 1 AND 2000))
);
CREATE INDEX data_resources_agency ON data_resources (agency_id);

-- MARK: Authorizations

CREATE TYPE pdx_authorization_mode AS ENUM ('single', 'multi');
CREATE TYPE pdx_authorization_state AS ENUM ('active', 'suspended', 'revoked', 'expired');

CREATE TABLE authorizations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id     uuid NOT NULL,
    agency_kind   pdx_party_kind NOT NULL DEFAULT 'agency' CHECK (agency_kind = 'agency'),
    operator_id   uuid NOT NULL,
    operator_kind pdx_party_kind NOT NULL DEFAULT 'operator' CHECK (operator_kind = 'operator'),
    sectors       text[] NOT NULL,
    regions       text[] NOT NULL,
    scenarios     text[] NOT NULL,
    mode          pdx_authorization_mode NOT NULL,
    validity      tstzrange NOT NULL,
    state         pdx_authorization_state NOT NULL DEFAULT 'active',
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (agency_id, agency_kind) REFERENCES parties (id, kind),
    FOREIGN KEY (operator_id, operator_kind) REFERENCES parties (id, kind),
    CONSTRAINT authorizations_sectors_ok CHECK (pdx_slugs_ok(sectors, false)),
    CONSTRAINT authorizations_regions_ok CHECK (pdx_region_codes_ok(regions)),
    CONSTRAINT authorizations_scenarios_ok CHECK (pdx_slugs_ok(scenarios, false)),
    CONSTRAINT authorizations_validity_ok CHECK (
        NOT isempty(validity) AND NOT lower_inf(validity) AND NOT upper_inf(validity)
        AND upper(validity) <= lower(validity) + interval '5 years')
);
CREATE INDEX authorizations_operator ON authorizations (operator_id);
CREATE INDEX authorizations_agency ON authorizations (agency_id);

-- Every change of state, with its reason (mandatory for suspensions and revocations).
CREATE TABLE authorization_state_changes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    authorization_id uuid NOT NULL REFERENCES authorizations,
    from_state       pdx_authorization_state,
    to_state         pdx_authorization_state NOT NULL,
    reason           text,
    actor            text NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT authorization_state_changes_reason CHECK (
        to_state NOT IN ('suspended', 'revoked') OR length(btrim(reason)) BETWEEN 1 AND 2000)
);
CREATE INDEX authorization_state_changes_of ON authorization_state_changes (authorization_id);

-- One row per (sector, region) of every authorization that still holds its scope (active or
-- suspended), kept by triggers. The exclusion constraint makes overlapping single-operator scopes
-- impossible: a single-operator row claims the whole `exclusivity` range, a multi-operator row a range
-- of its own, so a single-operator row conflicts with any other row of the same sector, region and
-- time, while multi-operator rows never conflict with each other.
CREATE TABLE authorization_scopes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    authorization_id uuid NOT NULL REFERENCES authorizations ON DELETE CASCADE,
    sector           text NOT NULL REFERENCES sectors,
    region_code      text NOT NULL,
    validity         tstzrange NOT NULL,
    exclusivity      int8range NOT NULL,
    CONSTRAINT authorization_scopes_single_operator EXCLUDE USING gist (
        sector WITH =, region_code WITH =, validity WITH &&, exclusivity WITH &&)
);
CREATE INDEX authorization_scopes_of ON authorization_scopes (authorization_id);

CREATE FUNCTION pdx_authorization_scopes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM authorization_scopes WHERE authorization_id = OLD.id;
    END IF;
    IF NEW.state IN ('active', 'suspended') THEN
        INSERT INTO authorization_scopes (authorization_id, sector, region_code, validity, exclusivity)
        SELECT NEW.id, s, r, NEW.validity, '(,)'::int8range
        FROM unnest(NEW.sectors) AS s, unnest(NEW.regions) AS r
        WHERE NEW.mode = 'single';
        INSERT INTO authorization_scopes (authorization_id, sector, region_code, validity, exclusivity)
        SELECT NEW.id, s, r, NEW.validity, int8range(n, n + 1)
        FROM unnest(NEW.sectors) AS s, unnest(NEW.regions) AS r,
             LATERAL (SELECT nextval('pdx_authorization_scope_slot') AS n) AS slot
        WHERE NEW.mode = 'multi';
    END IF;
    RETURN NULL;
END
$$;
CREATE SEQUENCE pdx_authorization_scope_slot;
CREATE TRIGGER authorizations_scopes_insert AFTER INSERT ON authorizations
    FOR EACH ROW EXECUTE FUNCTION pdx_authorization_scopes();
CREATE TRIGGER authorizations_scopes_update AFTER UPDATE OF state, sectors, regions, validity, mode ON authorizations
    FOR EACH ROW EXECUTE FUNCTION pdx_authorization_scopes();

-- MARK: Products

CREATE TYPE pdx_product_state AS ENUM ('draft', 'listed', 'suspended', 'delisted');
CREATE TYPE pdx_delivery_mode AS ENUM ('api', 'file', 'sandbox');
CREATE TYPE pdx_charge_unit AS ENUM ('item', 'call', 'hour', 'record');

CREATE TABLE products (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    operator_id      uuid NOT NULL,
    operator_kind    pdx_party_kind NOT NULL DEFAULT 'operator' CHECK (operator_kind = 'operator'),
    authorization_id uuid NOT NULL REFERENCES authorizations,
    state            pdx_product_state NOT NULL DEFAULT 'draft',
    -- The version buyers see (the latest one).
    version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (operator_id, operator_kind) REFERENCES parties (id, kind)
);
CREATE INDEX products_operator ON products (operator_id);
CREATE INDEX products_authorization ON products (authorization_id);
CREATE INDEX products_listed ON products (id) WHERE state = 'listed';

-- A product's versions. A version is frozen once the product has been listed with it: from then on a
-- change makes a new version, and the database refuses to edit a frozen one.
CREATE TABLE product_versions (
    product_id     uuid NOT NULL REFERENCES products,
    version        integer NOT NULL CHECK (version >= 1),
    title          text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    description    text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    sector         text NOT NULL REFERENCES sectors,
    regions        text[] NOT NULL CHECK (pdx_region_codes_ok(regions)),
    scenarios      text[] NOT NULL CHECK (pdx_slugs_ok(scenarios, false)),
    tags           text[] NOT NULL DEFAULT '{}' CHECK (pdx_slugs_ok(tags, true)),
    fields         text[] NOT NULL CHECK (pdx_slugs_ok(fields, false)),
    delivery_modes pdx_delivery_mode[] NOT NULL CHECK (cardinality(delivery_modes) BETWEEN 1 AND 3),
    charge_unit    pdx_charge_unit NOT NULL,
    list_price_fen bigint NOT NULL CHECK (list_price_fen >= 0),
    frozen         boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, version)
);
-- Catalogue text search in Chinese and English: trigrams need no word boundaries.
CREATE INDEX product_versions_text ON product_versions USING gin ((title || ' ' || description) gin_trgm_ops);
CREATE INDEX product_versions_fields ON product_versions USING gin (fields);
CREATE INDEX product_versions_tags ON product_versions USING gin (tags);
CREATE INDEX product_versions_regions ON product_versions USING gin (regions);

CREATE TABLE product_version_sources (
    product_id  uuid NOT NULL,
    version     integer NOT NULL,
    resource_id uuid NOT NULL REFERENCES data_resources,
    PRIMARY KEY (product_id, version, resource_id),
    FOREIGN KEY (product_id, version) REFERENCES product_versions
);
CREATE INDEX product_version_sources_resource ON product_version_sources (resource_id);

CREATE FUNCTION pdx_product_version_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.frozen AND (TG_OP = 'DELETE' OR NEW IS DISTINCT FROM OLD) THEN
        RAISE EXCEPTION 'product % version % has been listed and cannot change; make a new version',
            OLD.product_id, OLD.version USING ERRCODE = 'P0001', CONSTRAINT = 'product_versions_frozen';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER product_versions_frozen BEFORE UPDATE OR DELETE ON product_versions
    FOR EACH ROW EXECUTE FUNCTION pdx_product_version_frozen();

CREATE FUNCTION pdx_product_version_sources_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row product_version_sources := CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    IF EXISTS (SELECT 1 FROM product_versions v WHERE v.product_id = row.product_id AND v.version = row.version AND v.frozen)
       OR (TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM product_versions v
                                      WHERE v.product_id = OLD.product_id AND v.version = OLD.version AND v.frozen)) THEN
        RAISE EXCEPTION 'product % version % has been listed and its sources cannot change; make a new version',
            row.product_id, row.version USING ERRCODE = 'P0001', CONSTRAINT = 'product_versions_frozen';
    END IF;
    RETURN row;
END
$$;
CREATE TRIGGER product_version_sources_frozen BEFORE INSERT OR UPDATE OR DELETE ON product_version_sources
    FOR EACH ROW EXECUTE FUNCTION pdx_product_version_sources_frozen();

-- Grading, checked by the database behind Market's policy, whenever a version or its sources change:
-- sources are never core data; important data only with sandbox delivery alone; personal information
-- only once de-identified.
CREATE FUNCTION pdx_check_version_grading(product uuid, product_version integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    modes pdx_delivery_mode[];
    resource data_resources;
BEGIN
    SELECT delivery_modes INTO modes FROM product_versions WHERE product_id = product AND version = product_version;
    FOR resource IN
        SELECT r.* FROM product_version_sources s JOIN data_resources r ON r.id = s.resource_id
        WHERE s.product_id = product AND s.version = product_version
    LOOP
        IF resource.grade = 'core' THEN
            RAISE EXCEPTION 'resource % is core data, which is never in authorized operation', resource.id
                USING ERRCODE = 'P0001', CONSTRAINT = 'grading_core';
        ELSIF resource.grade = 'important' AND modes <> ARRAY['sandbox']::pdx_delivery_mode[] THEN
            RAISE EXCEPTION 'resource % is important data, which is delivered only in a sandbox', resource.id
                USING ERRCODE = 'P0001', CONSTRAINT = 'grading_important';
        ELSIF resource.personal_info AND resource.deidentified_at IS NULL THEN
            RAISE EXCEPTION 'resource % holds personal information without a recorded de-identification', resource.id
                USING ERRCODE = 'P0001', CONSTRAINT = 'grading_personal_info';
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION pdx_product_grading() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_check_version_grading(NEW.product_id, NEW.version);
    RETURN NULL;
END
$$;
CREATE TRIGGER product_versions_grading AFTER UPDATE OF delivery_modes ON product_versions
    FOR EACH ROW EXECUTE FUNCTION pdx_product_grading();
CREATE TRIGGER product_version_sources_grading AFTER INSERT OR UPDATE ON product_version_sources
    FOR EACH ROW EXECUTE FUNCTION pdx_product_grading();

-- MARK: Demand requests

CREATE TYPE pdx_purpose AS ENUM ('public_governance', 'public_welfare', 'industry_development', 'sector_development');
CREATE TYPE pdx_demand_state AS ENUM ('draft', 'open', 'matched', 'ordered', 'fulfilled', 'expired', 'cancelled');

CREATE TABLE demands (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    demander_id      uuid NOT NULL REFERENCES parties,
    title            text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    sector           text NOT NULL REFERENCES sectors,
    scenario         text NOT NULL CHECK (pdx_slugs_ok(ARRAY[scenario], false)),
    purpose          pdx_purpose NOT NULL,
    regions          text[] NOT NULL CHECK (pdx_region_codes_ok(regions)),
    fields_wanted    text[] NOT NULL CHECK (pdx_slugs_ok(fields_wanted, false)),
    tags             text[] NOT NULL DEFAULT '{}' CHECK (pdx_slugs_ok(tags, true)),
    quantity         bigint NOT NULL CHECK (quantity BETWEEN 1 AND 1000000000000),
    budget_fen       bigint NOT NULL CHECK (budget_fen >= 0),
    delivery_modes   pdx_delivery_mode[] NOT NULL CHECK (cardinality(delivery_modes) BETWEEN 1 AND 3),
    expires_at       timestamptz NOT NULL,
    state            pdx_demand_state NOT NULL DEFAULT 'draft',
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT demands_expiry_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX demands_demander ON demands (demander_id);
CREATE INDEX demands_open ON demands (sector) WHERE state IN ('open', 'matched');
CREATE INDEX demands_text ON demands USING gin ((title || ' ' || description) gin_trgm_ops);

-- How long a demand spent in each state: one row per stay, closed when it leaves (kept by a trigger).
CREATE TABLE demand_state_stays (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    demand_id  uuid NOT NULL REFERENCES demands,
    state      pdx_demand_state NOT NULL,
    entered_at timestamptz NOT NULL,
    left_at    timestamptz
);
CREATE INDEX demand_state_stays_of ON demand_state_stays (demand_id);

CREATE FUNCTION pdx_demand_state_stays() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.state = OLD.state THEN
            RETURN NULL;
        END IF;
        UPDATE demand_state_stays SET left_at = NEW.state_changed_at
        WHERE demand_id = NEW.id AND left_at IS NULL;
    END IF;
    INSERT INTO demand_state_stays (demand_id, state, entered_at) VALUES (NEW.id, NEW.state, NEW.state_changed_at);
    RETURN NULL;
END
$$;
CREATE TRIGGER demands_state_stays AFTER INSERT OR UPDATE OF state ON demands
    FOR EACH ROW EXECUTE FUNCTION pdx_demand_state_stays();

-- MARK: Matches and orders

CREATE TYPE pdx_match_state AS ENUM ('proposed', 'accepted', 'declined', 'withdrawn');

CREATE TABLE matches (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    demand_id        uuid NOT NULL REFERENCES demands,
    product_id       uuid NOT NULL REFERENCES products,
    product_version  integer NOT NULL,
    score            double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    reasons          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(reasons) = 'array'),
    quote            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(quote) = 'object'),
    quote_fen        bigint NOT NULL CHECK (quote_fen >= 0),
    state            pdx_match_state NOT NULL DEFAULT 'proposed',
    state_reason     text,
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (product_id, product_version) REFERENCES product_versions
);
-- A demand holds at most one live proposal per product.
CREATE UNIQUE INDEX matches_one_proposal ON matches (demand_id, product_id) WHERE state = 'proposed';
CREATE INDEX matches_product ON matches (product_id) WHERE state = 'proposed';

CREATE TYPE pdx_order_state AS ENUM ('placed', 'accepted', 'delivered', 'completed', 'rejected', 'cancelled');

CREATE TABLE orders (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    buyer_id            uuid NOT NULL REFERENCES parties,
    product_id          uuid NOT NULL REFERENCES products,
    product_version     integer NOT NULL,
    match_id            uuid UNIQUE REFERENCES matches,
    quantity            bigint NOT NULL CHECK (quantity BETWEEN 1 AND 1000000000000),
    purpose             pdx_purpose NOT NULL,
    -- The quote the order was placed with, including the ids and versions of the pricing rules used.
    quote               jsonb NOT NULL CHECK (jsonb_typeof(quote) = 'object'),
    amount_fen          bigint NOT NULL CHECK (amount_fen >= 0),
    state               pdx_order_state NOT NULL DEFAULT 'placed',
    state_reason        text,
    entitlement_ends_at timestamptz,
    state_changed_at    timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (product_id, product_version) REFERENCES product_versions,
    CONSTRAINT orders_public_interest_free CHECK (
        purpose NOT IN ('public_governance', 'public_welfare') OR amount_fen = 0),
    CONSTRAINT orders_entitlement_after_creation CHECK (entitlement_ends_at IS NULL OR entitlement_ends_at > created_at)
);
CREATE INDEX orders_buyer ON orders (buyer_id);
CREATE INDEX orders_product ON orders (product_id);

-- MARK: Audit

-- Append-only: the database refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    action       text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    subject_type text NOT NULL,
    subject_id   text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    reason       text,
    before       jsonb,
    after        jsonb
);
CREATE INDEX audit_events_subject ON audit_events (subject_type, subject_id);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE FUNCTION pdx_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % is refused', TG_OP
        USING ERRCODE = 'P0001', CONSTRAINT = 'audit_events_append_only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION pdx_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION pdx_audit_append_only();
