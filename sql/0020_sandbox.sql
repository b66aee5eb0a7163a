-- Issue 18: the sandbox (rule 3, 可用不可见). A sandbox product's operator loads its dataset into the
-- pdx_sandbox schema; buyers send analyses (JSON, never SQL) that a worker runs under pdx_sandbox_reader,
-- a role that can read the datasets and nothing else, in a read-only transaction with a timeout. Each
-- analysis spends epsilon from its dataset's budget; its spec, requester, suppressed groups and result are kept.

CREATE SCHEMA pdx_sandbox;
REVOKE ALL ON SCHEMA pdx_sandbox FROM PUBLIC;

-- Roles belong to the cluster, not the database: several pdx databases in one cluster share this one.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pdx_sandbox_reader') THEN
        BEGIN
            CREATE ROLE pdx_sandbox_reader NOLOGIN NOINHERIT;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;  -- another database's migration made it meanwhile
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'pdx needs a role pdx_sandbox_reader for the sandbox, and % may not create roles', current_user
                    USING HINT = format('as a superuser: CREATE ROLE pdx_sandbox_reader NOLOGIN NOINHERIT; GRANT pdx_sandbox_reader TO %I; then migrate again', current_user);
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'pdx_sandbox_reader', 'MEMBER') THEN
        EXECUTE format('GRANT pdx_sandbox_reader TO %I', current_user);
    END IF;
END $$;
GRANT USAGE ON SCHEMA pdx_sandbox TO pdx_sandbox_reader;

CREATE TABLE sandbox_datasets (
    product_id            uuid PRIMARY KEY REFERENCES products (id),
    operator_id           uuid NOT NULL REFERENCES parties (id),
    -- The table in pdx_sandbox holding the rows; a reload writes a new one and swaps.
    table_name            text NOT NULL UNIQUE CHECK (table_name ~ '^d_[0-9a-f]{32}_[0-9]+$'),
    generation            integer NOT NULL CHECK (generation >= 1),
    min_entities          integer NOT NULL CHECK (min_entities BETWEEN 2 AND 1000),
    epsilon_budget        double precision NOT NULL CHECK (epsilon_budget > 0 AND epsilon_budget <= 100),
    budget_period         text NOT NULL CHECK (budget_period IN ('day', 'week', 'month')),
    max_groups_per_entity integer NOT NULL CHECK (max_groups_per_entity BETWEEN 1 AND 100),
    timeout_ms            integer NOT NULL CHECK (timeout_ms BETWEEN 1 AND 600000),
    row_count             bigint NOT NULL CHECK (row_count >= 0),
    entity_count          bigint NOT NULL CHECK (entity_count >= 0),
    loaded_at             timestamptz NOT NULL DEFAULT now(),
    loaded_by             text NOT NULL
);

CREATE TABLE sandbox_columns (
    product_id uuid NOT NULL REFERENCES sandbox_datasets (product_id) ON DELETE CASCADE,
    position   integer NOT NULL CHECK (position BETWEEN 1 AND 64),
    name       text NOT NULL CHECK (name ~ '^[[:alnum:]_]{1,63}$'),
    role       text NOT NULL CHECK (role IN ('entity', 'dimension', 'measure', 'hidden')),
    type       text NOT NULL CHECK (type IN ('text', 'integer', 'date', 'number')),
    lower      double precision,
    upper      double precision,
    -- A dimension whose value never varies within an entity (found at load): grouping by such dimensions alone
    -- puts each entity in one group, so the per-entity group bound has nothing to cut.
    entity_stable boolean,
    PRIMARY KEY (product_id, position),
    UNIQUE (product_id, name),
    CHECK ((role = 'measure') = (lower IS NOT NULL AND upper IS NOT NULL)),
    CHECK (lower IS NULL OR lower < upper),
    CHECK ((role = 'dimension') = (entity_stable IS NOT NULL))
);
CREATE UNIQUE INDEX sandbox_columns_one_entity ON sandbox_columns (product_id) WHERE role = 'entity';

CREATE TABLE sandbox_analyses (
    id                  uuid PRIMARY KEY,
    product_id          uuid NOT NULL REFERENCES sandbox_datasets (product_id),
    entitlement_id      uuid NOT NULL REFERENCES entitlements (id),
    buyer_id            uuid NOT NULL REFERENCES parties (id),
    spec                jsonb NOT NULL,
    epsilon             double precision NOT NULL CHECK (epsilon > 0),
    -- The budget period the epsilon is spent in.
    budget_period_start timestamptz NOT NULL,
    state               text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    failure             text,
    -- Epsilon comes back only for an analysis refused before it read any data.
    epsilon_refunded    boolean NOT NULL DEFAULT false,
    dataset_generation  integer,
    result              jsonb,
    groups_released     integer,
    groups_suppressed   integer,
    elapsed_ms          integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz,
    CHECK ((state = 'failed') = (failure IS NOT NULL)),
    CHECK (NOT epsilon_refunded OR state = 'failed'),
    CHECK ((state = 'done') = (result IS NOT NULL))
);
CREATE INDEX sandbox_analyses_budget ON sandbox_analyses (product_id, budget_period_start) WHERE NOT epsilon_refunded;
CREATE INDEX sandbox_analyses_buyer ON sandbox_analyses (buyer_id, created_at DESC);
CREATE INDEX sandbox_analyses_product ON sandbox_analyses (product_id, created_at DESC);

-- What an analysis is and spent never changes once it finished (the audit trail); only its run fills in.
CREATE FUNCTION pdx_sandbox_analyses_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.state IN ('done', 'failed')
       OR NEW.spec <> OLD.spec OR NEW.epsilon <> OLD.epsilon OR NEW.buyer_id <> OLD.buyer_id
       OR NEW.product_id <> OLD.product_id OR NEW.entitlement_id <> OLD.entitlement_id OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'sandbox analyses are an audit trail: a finished one, and what any one asked and spent, never change'
            USING ERRCODE = 'P0001', CONSTRAINT = 'append_only';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sandbox_analyses_guard BEFORE UPDATE OR DELETE ON sandbox_analyses FOR EACH ROW EXECUTE FUNCTION pdx_sandbox_analyses_guard();
CREATE TRIGGER sandbox_analyses_guard_truncate BEFORE TRUNCATE ON sandbox_analyses FOR EACH STATEMENT EXECUTE FUNCTION pdx_append_only();
