-- Joining and leaving the market: a party's names, contact and state; verified classes; affiliations
-- (rule 4's "directly or indirectly"); known sectors and scenarios; applications; keys that expire and
-- rotate. The database holds each rule on every path, as it holds the others.

-- MARK: Parties

CREATE TYPE pdx_party_state AS ENUM ('active', 'suspended', 'closed');

ALTER TABLE parties
    ADD COLUMN name_en          text,
    ADD COLUMN contact_name     text,
    ADD COLUMN contact_email    text,
    ADD COLUMN contact_phone    text,
    ADD COLUMN state            pdx_party_state NOT NULL DEFAULT 'active',
    ADD COLUMN state_reason     text,
    ADD COLUMN state_changed_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT parties_name_en_ok CHECK (length(btrim(name_en)) BETWEEN 1 AND 200),
    ADD CONSTRAINT parties_contact_name_ok CHECK (length(btrim(contact_name)) BETWEEN 1 AND 200),
    ADD CONSTRAINT parties_contact_email_ok CHECK (contact_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND length(contact_email) <= 254),
    ADD CONSTRAINT parties_contact_phone_ok CHECK (contact_phone ~ '^\+?[0-9][0-9 -]{4,30}$'),
    -- A suspension or a closure says why.
    ADD CONSTRAINT parties_state_reason_ok CHECK (state = 'active' OR length(btrim(state_reason)) BETWEEN 1 AND 2000);

-- Closing is final: a closed party's row never changes again (and no row is ever deleted).
CREATE FUNCTION pdx_parties_closed_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.state = 'closed' THEN
        RAISE EXCEPTION 'party % is closed: its record is kept as it is', OLD.id
            USING ERRCODE = 'P0001', CONSTRAINT = 'party_closed_final';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER parties_closed_final BEFORE UPDATE OR DELETE ON parties
    FOR EACH ROW EXECUTE FUNCTION pdx_parties_closed_final();

-- Refuses when a party is not active. Reads the party FOR KEY SHARE, the lock a foreign key to it takes
-- anyway (so no extra lock for the rows that reference it), which a suspension's or closure's FOR UPDATE
-- conflicts with: the suspension waits for the insert in flight (and then withdraws what it made), or the
-- insert waits for the suspension (and sees it).
CREATE FUNCTION pdx_require_active_party(party uuid, role text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    found pdx_party_state;
BEGIN
    SELECT state INTO found FROM parties WHERE id = party FOR KEY SHARE;
    IF found IS DISTINCT FROM 'active' AND found IS NOT NULL THEN
        RAISE EXCEPTION 'the % % is %', role, party, found
            USING ERRCODE = 'P0001', CONSTRAINT = 'party_not_active';
    END IF;
END
$$;

-- A row whose parties (columns named by the trigger's arguments) must all be active.
CREATE FUNCTION pdx_parties_active() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row jsonb := to_jsonb(NEW);
BEGIN
    FOR i IN 0 .. TG_NARGS - 1 LOOP
        PERFORM pdx_require_active_party((row ->> TG_ARGV[i])::uuid, replace(replace(TG_ARGV[i], '_id', ''), '_', ' '));
    END LOOP;
    RETURN NEW;
END
$$;
-- Nothing new from a suspended or closed party: no demand, product, resource or grant.
CREATE TRIGGER demands_party_active BEFORE INSERT ON demands
    FOR EACH ROW EXECUTE FUNCTION pdx_parties_active('demander_id');
CREATE TRIGGER demands_publish_party_active BEFORE UPDATE OF state ON demands
    FOR EACH ROW WHEN (OLD.state = 'draft' AND NEW.state = 'open') EXECUTE FUNCTION pdx_parties_active('demander_id');
CREATE TRIGGER products_party_active BEFORE INSERT ON products
    FOR EACH ROW EXECUTE FUNCTION pdx_parties_active('operator_id');
CREATE TRIGGER products_list_party_active BEFORE UPDATE OF state ON products
    FOR EACH ROW WHEN (NEW.state = 'listed' AND OLD.state <> 'listed') EXECUTE FUNCTION pdx_parties_active('operator_id');
CREATE TRIGGER data_resources_party_active BEFORE INSERT ON data_resources
    FOR EACH ROW EXECUTE FUNCTION pdx_parties_active('agency_id');
CREATE TRIGGER authorizations_party_active BEFORE INSERT ON authorizations
    FOR EACH ROW EXECUTE FUNCTION pdx_parties_active('agency_id', 'operator_id');
CREATE TRIGGER authorizations_reinstate_party_active BEFORE UPDATE OF state ON authorizations
    FOR EACH ROW WHEN (OLD.state = 'suspended' AND NEW.state = 'active') EXECUTE FUNCTION pdx_parties_active('agency_id', 'operator_id');

-- No proposal or order between parties of which one is not active. Proposals come in batches (a matching
-- pass writes many with one statement): their parties are locked and checked once per statement (with
-- the anti-monopoly rule, below).
CREATE FUNCTION pdx_orders_parties_active() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_require_active_party(NEW.buyer_id, 'buyer');
    PERFORM pdx_require_active_party((SELECT operator_id FROM products WHERE id = NEW.product_id), 'operator');
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_parties_active BEFORE INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION pdx_orders_parties_active();

-- The catalogue shows only the products of active operators: a suspension takes them out (announced on
-- pdx_catalogue like every other change), a reinstatement puts them back.
CREATE OR REPLACE FUNCTION pdx_catalogue_refresh(product uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalogue WHERE product_id = product;
    INSERT INTO catalogue (product_id, version, operator_id, authorization_id, sector, regions, delivery_modes, scenarios, fields,
                           tags, title, description, charge_unit, list_price_fen, match_keys,
                           pending_version, pending_effective_at, pending_list_price_fen, pending_charge_unit)
    SELECT p.id, p.version, p.operator_id, p.authorization_id, v.sector, v.regions, v.delivery_modes, v.scenarios, v.fields,
           v.tags, v.title, v.description, v.charge_unit, v.list_price_fen, pdx_offered_keys(v.sector, v.regions, v.delivery_modes),
           n.version, p.pending_effective_at, n.list_price_fen, n.charge_unit
    FROM products p
    JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
    JOIN authorizations a ON a.id = p.authorization_id AND a.state = 'active'
    JOIN parties o ON o.id = p.operator_id AND o.state = 'active'
    LEFT JOIN product_versions n ON p.pending_effective_at IS NOT NULL AND n.product_id = p.id AND n.version = p.version + 1
    WHERE p.id = product AND p.state = 'listed';
    PERFORM pg_notify('pdx_catalogue', product::text);
END
$$;

CREATE FUNCTION pdx_catalogue_follow_party() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_catalogue_refresh(p.id) FROM products p WHERE p.operator_id = NEW.id AND p.state = 'listed';
    RETURN NULL;
END
$$;
CREATE TRIGGER parties_catalogue AFTER UPDATE OF state ON parties
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.kind = 'operator') EXECUTE FUNCTION pdx_catalogue_follow_party();

-- MARK: Verified classes

CREATE TYPE pdx_party_class AS ENUM ('small_micro', 'public_institution', 'social_organization');

-- That a party is of a class, as an administrator verified it, with the evidence and until when. A
-- class earns its pricing (a discount, free public-interest use) only while a verification is in force.
CREATE TABLE party_verifications (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    party_id       uuid NOT NULL REFERENCES parties,
    class          pdx_party_class NOT NULL,
    evidence       text NOT NULL CHECK (length(btrim(evidence)) BETWEEN 1 AND 2000),
    verified_by    text NOT NULL CHECK (length(btrim(verified_by)) BETWEEN 1 AND 200),
    verified_at    timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_by     text,
    revoked_reason text,
    CONSTRAINT party_verifications_expiry_ok CHECK (expires_at > verified_at AND expires_at <= verified_at + interval '5 years'),
    CONSTRAINT party_verifications_revocation_complete CHECK (
        (revoked_at IS NULL) = (revoked_by IS NULL) AND (revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX party_verifications_party ON party_verifications (party_id);

-- Parties registered as small or micro before verification existed keep the class, verified by the
-- migration for a year (an administrator re-verifies with evidence).
INSERT INTO party_verifications (party_id, class, evidence, verified_by, expires_at)
SELECT id, 'small_micro', 'recorded as small or micro at registration, before verification existed', 'pdx migrate',
       now() + interval '1 year'
FROM parties WHERE small_or_micro;
ALTER TABLE parties DROP COLUMN small_or_micro;

-- Public-interest purposes that an agency approved or refused for one demand (the latest decision counts).
CREATE TABLE demand_purpose_reviews (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    demand_id  uuid NOT NULL REFERENCES demands,
    agency_id  uuid NOT NULL,
    agency_kind pdx_party_kind NOT NULL DEFAULT 'agency' CHECK (agency_kind = 'agency'),
    approved   boolean NOT NULL,
    reason     text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (agency_id, agency_kind) REFERENCES parties (id, kind)
);
CREATE INDEX demand_purpose_reviews_demand ON demand_purpose_reviews (demand_id, at DESC);

-- A public-interest order is free, unless its quote says the purpose was not verified (it is then
-- priced as any other, until verified or approved).
ALTER TABLE orders DROP CONSTRAINT orders_public_interest_free;
ALTER TABLE orders ADD CONSTRAINT orders_public_interest_free CHECK (
    purpose NOT IN ('public_governance', 'public_welfare') OR amount_fen = 0
    OR quote -> 'lines' @> '[{"step": "public_interest_unverified"}]');

-- MARK: Affiliations

CREATE TYPE pdx_affiliation AS ENUM ('parent', 'subsidiary', 'common_control');

-- `party_id` is the `relation` of `affiliate_id` (its parent, its subsidiary, or under common control
-- with it). Ending an affiliation keeps its row.
CREATE TABLE party_affiliations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    party_id     uuid NOT NULL REFERENCES parties,
    affiliate_id uuid NOT NULL REFERENCES parties,
    relation     pdx_affiliation NOT NULL,
    reason       text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    ended_by     text,
    ended_reason text,
    CONSTRAINT party_affiliations_distinct CHECK (party_id <> affiliate_id),
    CONSTRAINT party_affiliations_end_complete CHECK (
        (ended_at IS NULL) = (ended_by IS NULL) AND (ended_at IS NULL) = (ended_reason IS NULL))
);
CREATE UNIQUE INDEX party_affiliations_one_live ON party_affiliations (least(party_id, affiliate_id), greatest(party_id, affiliate_id))
    WHERE ended_at IS NULL;
CREATE INDEX party_affiliations_party ON party_affiliations (party_id) WHERE ended_at IS NULL;
CREATE INDEX party_affiliations_affiliate ON party_affiliations (affiliate_id) WHERE ended_at IS NULL;

-- A party and every party affiliated with it, directly or through others (live affiliations, either way).
CREATE FUNCTION pdx_affiliated(party uuid) RETURNS uuid[] LANGUAGE sql STABLE AS $$
    WITH RECURSIVE reach(id) AS (
        SELECT party
        UNION
        SELECT CASE WHEN a.party_id = r.id THEN a.affiliate_id ELSE a.party_id END
        FROM reach r JOIN party_affiliations a ON a.ended_at IS NULL AND (a.party_id = r.id OR a.affiliate_id = r.id)
    )
    SELECT array_agg(id) FROM reach
$$;

-- Rule 4: the authorization in force, held by the buyer or a party affiliated with it, whose scope
-- covers the product version (its sector, in one of its regions); null when there is none. A demander in
-- no live affiliation (almost every buyer) holds no grant: it costs a probe of the affiliations and one of
-- its party row.
CREATE FUNCTION pdx_anti_monopoly_holder(buyer uuid, product uuid, product_version integer) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    holders uuid[] := ARRAY[buyer];
    found uuid;
BEGIN
    IF EXISTS (SELECT 1 FROM party_affiliations WHERE ended_at IS NULL AND (party_id = buyer OR affiliate_id = buyer)) THEN
        holders := pdx_affiliated(buyer);
    ELSIF NOT EXISTS (SELECT 1 FROM parties WHERE id = buyer AND kind = 'operator') THEN
        RETURN NULL;
    END IF;
    SELECT a.id INTO found FROM authorizations a, product_versions v
    WHERE a.operator_id = ANY(holders) AND a.state = 'active' AND a.validity @> now()
      AND v.product_id = product AND v.version = product_version
      AND v.sector = ANY(a.sectors) AND pdx_regions_overlap(a.regions, v.regions)
    LIMIT 1;
    RETURN found;
END
$$;

CREATE FUNCTION pdx_check_anti_monopoly(buyer uuid, product uuid, product_version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    holder uuid := pdx_anti_monopoly_holder(buyer, product, product_version);
BEGIN
    IF holder IS NOT NULL THEN
        RAISE EXCEPTION 'an operator may not, directly or through an affiliated party, buy or re-develop products within its own authorized scope (authorization %)', holder
            USING ERRCODE = 'P0001', CONSTRAINT = 'anti_monopoly';
    END IF;
END
$$;

CREATE FUNCTION pdx_orders_anti_monopoly() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_check_anti_monopoly(NEW.buyer_id, NEW.product_id, NEW.product_version);
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_anti_monopoly BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION pdx_orders_anti_monopoly();

-- New proposals, per statement: their demanders and operators locked (FOR KEY SHARE, in id order) and active,
-- and none offering a demander a product inside its (or an affiliate's) own scope.
CREATE FUNCTION pdx_matches_proposed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    inactive record;
    breaking record;
BEGIN
    PERFORM 1 FROM parties WHERE id IN (
        SELECT d.demander_id FROM proposed i JOIN demands d ON d.id = i.demand_id
        UNION SELECT o.operator_id FROM proposed i JOIN products o ON o.id = i.product_id)
    ORDER BY id FOR KEY SHARE;
    SELECT p.id, p.kind, p.state INTO inactive FROM parties p WHERE p.state <> 'active' AND p.id IN (
        SELECT d.demander_id FROM proposed i JOIN demands d ON d.id = i.demand_id
        UNION SELECT o.operator_id FROM proposed i JOIN products o ON o.id = i.product_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the % % is %', inactive.kind, inactive.id, inactive.state USING ERRCODE = 'P0001', CONSTRAINT = 'party_not_active';
    END IF;
    SELECT d.demander_id, i.product_id, i.product_version INTO breaking
    FROM proposed i JOIN demands d ON d.id = i.demand_id
    WHERE pdx_anti_monopoly_holder(d.demander_id, i.product_id, i.product_version) IS NOT NULL
    LIMIT 1;
    IF FOUND THEN
        PERFORM pdx_check_anti_monopoly(breaking.demander_id, breaking.product_id, breaking.product_version);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER matches_proposed AFTER INSERT ON matches REFERENCING NEW TABLE AS proposed
    FOR EACH STATEMENT EXECUTE FUNCTION pdx_matches_proposed();

-- A proposal moved to another version of its product (a revision's requote) is checked again.
CREATE FUNCTION pdx_matches_anti_monopoly() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_check_anti_monopoly((SELECT demander_id FROM demands WHERE id = NEW.demand_id), NEW.product_id, NEW.product_version);
    RETURN NEW;
END
$$;
CREATE TRIGGER matches_requoted_anti_monopoly BEFORE UPDATE OF product_version ON matches
    FOR EACH ROW WHEN (NEW.state = 'proposed') EXECUTE FUNCTION pdx_matches_anti_monopoly();

-- MARK: Sectors and scenarios

CREATE TABLE scenarios (
    code    text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    name_zh text NOT NULL CHECK (length(btrim(name_zh)) BETWEEN 1 AND 100),
    name_en text NOT NULL CHECK (length(btrim(name_en)) BETWEEN 1 AND 100)
);
ALTER TABLE sectors
    ADD CONSTRAINT sectors_name_zh_ok CHECK (length(btrim(name_zh)) BETWEEN 1 AND 100),
    ADD CONSTRAINT sectors_name_en_ok CHECK (length(btrim(name_en)) BETWEEN 1 AND 100);

INSERT INTO scenarios (code, name_zh, name_en) VALUES
    ('credit_risk', '信用风险评估', 'credit risk assessment'),
    ('anti_fraud', '反欺诈', 'anti-fraud'),
    ('supply_chain_finance', '供应链金融', 'supply chain finance'),
    ('insurance_pricing', '保险定价', 'insurance pricing'),
    ('traffic_planning', '交通规划', 'traffic planning'),
    ('logistics', '物流', 'logistics'),
    ('ride_hailing', '网约车', 'ride hailing'),
    ('road_safety', '道路安全', 'road safety'),
    ('energy_saving', '节能', 'energy saving'),
    ('grid_planning', '电网规划', 'grid planning'),
    ('carbon_accounting', '碳核算', 'carbon accounting'),
    ('public_health', '公共卫生', 'public health'),
    ('drug_supply', '药品供应', 'drug supply'),
    ('elderly_care', '养老服务', 'elderly care'),
    ('disaster_relief', '防灾减灾', 'disaster relief'),
    ('agriculture_insurance', '农业保险', 'agricultural insurance'),
    ('market_entry', '市场准入', 'market entry'),
    ('site_selection', '选址', 'site selection'),
    ('insurance', '保险', 'insurance'),
    ('credit_scoring', '信用评分', 'credit scoring'),
    ('fleet_management', '车队管理', 'fleet management');
-- Scenarios already in use stay usable: labelled by their code until an administrator names them.
INSERT INTO scenarios (code, name_zh, name_en)
SELECT DISTINCT s, s, s FROM (
    SELECT scenario AS s FROM demands
    UNION SELECT unnest(scenarios) FROM product_versions
    UNION SELECT unnest(scenarios) FROM authorizations
) used
ON CONFLICT (code) DO NOTHING;

-- Refuses a sector or scenario the market does not know, listing those it does (`field` names the column).
CREATE FUNCTION pdx_require_known(codes text[], field text, known_table text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    unknown text;
    allowed text;
BEGIN
    IF known_table = 'sectors' THEN
        SELECT c INTO unknown FROM unnest(codes) AS c WHERE NOT EXISTS (SELECT 1 FROM sectors WHERE code = c) LIMIT 1;
        IF FOUND THEN allowed := (SELECT string_agg(code, ', ' ORDER BY code) FROM sectors); END IF;
    ELSE
        SELECT c INTO unknown FROM unnest(codes) AS c WHERE NOT EXISTS (SELECT 1 FROM scenarios WHERE code = c) LIMIT 1;
        IF FOUND THEN allowed := (SELECT string_agg(code, ', ' ORDER BY code) FROM scenarios); END IF;
    END IF;
    IF allowed IS NOT NULL THEN
        RAISE EXCEPTION 'must be one of % (% is not)', allowed, unknown
            USING ERRCODE = 'P0001', CONSTRAINT = 'unknown_value:' || field;
    END IF;
END
$$;

CREATE FUNCTION pdx_demands_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_require_known(ARRAY[NEW.sector], 'sector', 'sectors');
    PERFORM pdx_require_known(ARRAY[NEW.scenario], 'scenario', 'scenarios');
    RETURN NEW;
END
$$;
-- Named to fire after demands_validate (triggers of one kind fire by name), so a malformed code is still
-- reported as malformed.
CREATE TRIGGER demands_validate_known BEFORE INSERT OR UPDATE OF sector, scenario ON demands
    FOR EACH ROW EXECUTE FUNCTION pdx_demands_known();

CREATE FUNCTION pdx_product_versions_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_require_known(ARRAY[NEW.sector], 'sector', 'sectors');
    PERFORM pdx_require_known(NEW.scenarios, 'scenarios', 'scenarios');
    RETURN NEW;
END
$$;
CREATE TRIGGER product_versions_known BEFORE INSERT ON product_versions
    FOR EACH ROW EXECUTE FUNCTION pdx_product_versions_known();

CREATE FUNCTION pdx_authorizations_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_require_known(NEW.sectors, 'sectors', 'sectors');
    PERFORM pdx_require_known(NEW.scenarios, 'scenarios', 'scenarios');
    RETURN NEW;
END
$$;
CREATE TRIGGER authorizations_known BEFORE INSERT OR UPDATE OF sectors, scenarios ON authorizations
    FOR EACH ROW EXECUTE FUNCTION pdx_authorizations_known();

CREATE FUNCTION pdx_data_resources_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_require_known(ARRAY[NEW.sector], 'sector', 'sectors');
    RETURN NEW;
END
$$;
CREATE TRIGGER data_resources_known BEFORE INSERT OR UPDATE OF sector ON data_resources
    FOR EACH ROW EXECUTE FUNCTION pdx_data_resources_known();

-- MARK: Applications

CREATE TYPE pdx_application_state AS ENUM ('pending', 'approved', 'rejected', 'claimed');

-- A market entity's application to join, sent without a key. Only the SHA-256 of its claim secret is
-- kept; the secret, shown once, exchanges an approved application for the party's first API key.
CREATE TABLE applications (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind            pdx_party_kind NOT NULL,
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    name_en         text CHECK (length(btrim(name_en)) BETWEEN 1 AND 200),
    credit_code     text NOT NULL CHECK (pdx_credit_code_ok(credit_code)),
    region_code     text NOT NULL CHECK (pdx_region_code_ok(region_code)),
    contact_name    text NOT NULL CHECK (length(btrim(contact_name)) BETWEEN 1 AND 200),
    contact_email   text NOT NULL CHECK (contact_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND length(contact_email) <= 254),
    contact_phone   text CHECK (contact_phone ~ '^\+?[0-9][0-9 -]{4,30}$'),
    classes         pdx_party_class[] NOT NULL DEFAULT '{}',
    scenarios       text[] NOT NULL DEFAULT '{}' CHECK (pdx_slugs_ok(scenarios, true)),
    claim_sha256    bytea NOT NULL CHECK (length(claim_sha256) = 32),
    state           pdx_application_state NOT NULL DEFAULT 'pending',
    party_id        uuid REFERENCES parties,
    decided_by      text,
    decided_at      timestamptz,
    decision_reason text,
    claimed_at      timestamptz,
    submitted_from  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applications_decision_complete CHECK (
        (state = 'pending') = (decided_at IS NULL) AND (decided_at IS NULL) = (decided_by IS NULL)
        AND (decided_at IS NULL OR length(btrim(decision_reason)) BETWEEN 1 AND 2000)),
    CONSTRAINT applications_party_when_approved CHECK ((party_id IS NOT NULL) = (state IN ('approved', 'claimed'))),
    CONSTRAINT applications_claimed_at CHECK ((claimed_at IS NOT NULL) = (state = 'claimed'))
);
-- One application under review per credit code.
CREATE UNIQUE INDEX applications_one_pending ON applications (credit_code) WHERE state = 'pending';
CREATE INDEX applications_state ON applications (state, created_at);

CREATE FUNCTION pdx_applications_known() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pdx_require_known(NEW.scenarios, 'scenarios', 'scenarios');
    RETURN NEW;
END
$$;
CREATE TRIGGER applications_known BEFORE INSERT ON applications
    FOR EACH ROW EXECUTE FUNCTION pdx_applications_known();

-- MARK: Keys

-- A key may expire; rotating a key makes a successor and lets the old key live for a grace period.
ALTER TABLE api_keys
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN successor_id uuid REFERENCES api_keys,
    ADD CONSTRAINT api_keys_expiry_after_creation CHECK (expires_at > created_at);

CREATE FUNCTION pdx_api_keys_party_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT state FROM parties WHERE id = NEW.party_id FOR KEY SHARE) = 'closed' THEN
        RAISE EXCEPTION 'party % is closed: it gets no new key', NEW.party_id
            USING ERRCODE = 'P0001', CONSTRAINT = 'party_not_active';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER api_keys_party_open BEFORE INSERT ON api_keys FOR EACH ROW EXECUTE FUNCTION pdx_api_keys_party_open();
