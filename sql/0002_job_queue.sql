-- The job queue: one row per job, claimed with FOR UPDATE SKIP LOCKED.
--
-- A job moves available -> running -> completed, or through retryable (a failed attempt waiting for
-- its retry time) and scheduled (waiting for its start time) back to available; discarded (out of
-- attempts, or bad input) and cancelled end it too. completed, discarded and cancelled jobs are
-- "finalized" and are pruned after a retention period.
--
-- Speed comes from partial indexes: each covers only the rows one step of the life cycle looks for, so
-- millions of finalized rows cost the claim nothing. Bloat is kept bounded by aggressive per-table
-- autovacuum settings (the leader also vacuums when dead rows pile up).

CREATE TYPE pdx_job_state AS ENUM (
    'available', 'scheduled', 'running', 'retryable', 'completed', 'discarded', 'cancelled'
);

CREATE TABLE pdx_jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue            text NOT NULL DEFAULT 'default',
    kind             text NOT NULL,
    args             jsonb NOT NULL DEFAULT '{}',
    -- 1 runs first, 4 last.
    priority         smallint NOT NULL DEFAULT 1,
    state            pdx_job_state NOT NULL DEFAULT 'available',
    -- Attempts started so far; the running attempt's number while running.
    attempt          smallint NOT NULL DEFAULT 0,
    max_attempts     smallint NOT NULL DEFAULT 20,
    -- When it becomes (or became) available: the start time of scheduled jobs, the retry time of
    -- retryable ones, the enqueue time of the others. Claims take the oldest first.
    scheduled_at     timestamptz NOT NULL DEFAULT now(),
    attempted_at     timestamptz,
    attempted_by     text,
    -- The running attempt's lease: a worker that stops extending it is presumed dead.
    lease_expires_at timestamptz,
    -- One object per failed attempt: {"at", "attempt", "error", "worker"}.
    errors           jsonb NOT NULL DEFAULT '[]',
    -- Jobs with the same key are duplicates while one of them is not finalized.
    unique_key       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finalized_at     timestamptz,
    CONSTRAINT pdx_jobs_queue_ok CHECK (queue <> '' AND length(queue) <= 128),
    CONSTRAINT pdx_jobs_kind_ok CHECK (kind <> '' AND length(kind) <= 128),
    CONSTRAINT pdx_jobs_priority_ok CHECK (priority BETWEEN 1 AND 4),
    CONSTRAINT pdx_jobs_attempts_ok CHECK (max_attempts >= 1 AND attempt >= 0),
    CONSTRAINT pdx_jobs_errors_array CHECK (jsonb_typeof(errors) = 'array'),
    CONSTRAINT pdx_jobs_finalized_ok CHECK (
        (state IN ('completed', 'discarded', 'cancelled')) = (finalized_at IS NOT NULL)),
    CONSTRAINT pdx_jobs_running_ok CHECK (state <> 'running' OR lease_expires_at IS NOT NULL)
) WITH (
    fillfactor = 90,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 20000,
    autovacuum_analyze_scale_factor = 0.05,
    autovacuum_vacuum_cost_delay = 0
);

-- What producers claim: available jobs of one queue, in claim order.
CREATE INDEX pdx_jobs_claim ON pdx_jobs (queue, priority, scheduled_at, id) WHERE state = 'available';
-- What the scheduler makes available when their time comes.
CREATE INDEX pdx_jobs_waiting ON pdx_jobs (scheduled_at) WHERE state IN ('scheduled', 'retryable');
-- What the rescuer looks at: running jobs by lease.
CREATE INDEX pdx_jobs_running ON pdx_jobs (lease_expires_at) WHERE state = 'running';
-- What the pruner and throughput statistics read: finalized jobs by time.
CREATE INDEX pdx_jobs_finalized ON pdx_jobs (finalized_at) WHERE finalized_at IS NOT NULL;
-- Failed and cancelled jobs by queue, for `pdxctl queue list` and retries of discarded jobs.
CREATE INDEX pdx_jobs_dead ON pdx_jobs (queue, finalized_at) WHERE state IN ('discarded', 'cancelled');
-- At most one unfinalized job per unique key.
CREATE UNIQUE INDEX pdx_jobs_unique_key ON pdx_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');

-- Rows written by the diagnostic job kinds (`pdx work --diagnostics`), which benchmarks and chaos tests
-- use to prove that a job's effect happened exactly once.
CREATE TABLE pdx_job_effects (
    job_id      bigint NOT NULL,
    attempt     smallint NOT NULL,
    worker      text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX pdx_job_effects_job ON pdx_job_effects (job_id);
