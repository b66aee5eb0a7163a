#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Postgres

/// Looking at and acting on jobs, for `pdxctl queue`. Every query is backed by an index or bounded.
public enum JobAdmin {
    /// One queue's numbers.
    public struct QueueStats: Sendable, Codable, Equatable {
        public var queue: String
        public var available: Int
        public var scheduled: Int
        public var running: Int
        public var retryable: Int
        /// Finalized in the last minute.
        public var completedLastMinute: Int
        /// Kept until pruned.
        public var discarded: Int
        public var cancelled: Int
        /// Seconds since the oldest available job became available (0 when none waits).
        public var oldestAvailableAgeSeconds: Double
    }

    public static func stats(on connection: PostgresConnection) async throws -> [QueueStats] {
        // Live states through their partial indexes; finalized ones through theirs, bounded in time or
        // by retention; never a scan of every finalized row.
        let rows = try await connection.query("""
            WITH live AS (
                SELECT queue, state, count(*) AS n, min(scheduled_at) FILTER (WHERE state = 'available') AS oldest
                FROM pdx_jobs WHERE state IN ('available', 'scheduled', 'running', 'retryable')
                GROUP BY queue, state
            ), recent AS (
                SELECT queue, count(*) AS n FROM pdx_jobs
                WHERE finalized_at > now() - interval '1 minute' AND state = 'completed' GROUP BY queue
            ), dead AS (
                SELECT queue, state, count(*) AS n FROM pdx_jobs WHERE state IN ('discarded', 'cancelled') GROUP BY queue, state
            ), queues AS (
                SELECT queue FROM live UNION SELECT queue FROM recent UNION SELECT queue FROM dead
            )
            SELECT q.queue,
                coalesce((SELECT n FROM live WHERE live.queue = q.queue AND state = 'available'), 0)::int8,
                coalesce((SELECT n FROM live WHERE live.queue = q.queue AND state = 'scheduled'), 0)::int8,
                coalesce((SELECT n FROM live WHERE live.queue = q.queue AND state = 'running'), 0)::int8,
                coalesce((SELECT n FROM live WHERE live.queue = q.queue AND state = 'retryable'), 0)::int8,
                coalesce((SELECT n FROM recent WHERE recent.queue = q.queue), 0)::int8,
                coalesce((SELECT n FROM dead WHERE dead.queue = q.queue AND state = 'discarded'), 0)::int8,
                coalesce((SELECT n FROM dead WHERE dead.queue = q.queue AND state = 'cancelled'), 0)::int8,
                coalesce(extract(epoch FROM now() - (SELECT oldest FROM live WHERE live.queue = q.queue AND state = 'available')), 0)::float8
            FROM queues q ORDER BY q.queue
            """)
        return try rows.map { row in
            let (queue, available, scheduled, running, retryable, recent, discarded, cancelled, age) = try row.decode(
                String.self, Int.self, Int.self, Int.self, Int.self, Int.self, Int.self, Int.self, Double.self)
            return QueueStats(queue: queue, available: available, scheduled: scheduled, running: running, retryable: retryable,
                              completedLastMinute: recent, discarded: discarded, cancelled: cancelled,
                              oldestAvailableAgeSeconds: max(0, age))
        }
    }

    /// One failed attempt.
    public struct AttemptError: Sendable, Codable, Equatable {
        public var at: String
        public var attempt: Int
        public var error: String
        public var worker: String?
    }

    /// A job with everything recorded about it.
    public struct JobRecord: Sendable, Codable, Equatable {
        public var id: Int64
        public var queue: String
        public var kind: String
        public var args: String
        public var priority: Int
        public var state: String
        public var attempt: Int
        public var maxAttempts: Int
        public var scheduledAt: Date
        public var attemptedAt: Date?
        public var attemptedBy: String?
        public var leaseExpiresAt: Date?
        public var errors: [AttemptError]
        public var uniqueKey: String?
        public var createdAt: Date
        public var finalizedAt: Date?
    }

    /// The states a job can be in.
    public static let states = ["available", "scheduled", "running", "retryable", "completed", "discarded", "cancelled"]

    /// Jobs in a state (newest first), optionally of one queue.
    public static func list(state: String, queue: String? = nil, limit: Int = 50, on connection: PostgresConnection) async throws -> [JobRecord] {
        guard states.contains(state) else { throw JobInputError(field: "state", rule: "must be one of \(states.joined(separator: ", ")), got \(state)") }
        guard (1...10_000).contains(limit) else { throw JobInputError(field: "limit", rule: "must be from 1 to 10000") }
        var query: PostgresQuery = "\(unsafeRaw: recordColumns) FROM pdx_jobs WHERE state = \(state)::pdx_job_state"
        if let queue { query.append(" AND queue = \(queue)") }
        // Finalized rows are many: walk them by the finalized index, newest first; live ones by id.
        let order = ["completed", "discarded", "cancelled"].contains(state) ? "finalized_at DESC" : "id DESC"
        query.append(" ORDER BY \(unsafeRaw: order) LIMIT \(limit)")
        return try await connection.query(query).decode(as: JobRecord.self)
    }

    /// One job, or nil.
    public static func show(id: Int64, on connection: PostgresConnection) async throws -> JobRecord? {
        try await connection.query("\(unsafeRaw: recordColumns) FROM pdx_jobs WHERE id = \(id)").decode(as: JobRecord.self).first
    }

    /// Makes a retryable, scheduled, discarded or cancelled job available now, keeping its history and
    /// giving it one more attempt if it had none left. Returns false when no such job exists or it is
    /// available, running or completed.
    public static func retry(id: Int64, on connection: PostgresConnection) async throws -> Bool {
        try await retry(where: "id = \(id) AND state IN ('retryable', 'scheduled', 'discarded', 'cancelled')", on: connection) == 1
    }

    /// Retries every discarded job (of one queue, or of all); returns how many.
    public static func retryDiscarded(queue: String? = nil, on connection: PostgresConnection) async throws -> Int {
        var condition: PostgresQuery = "state = 'discarded'"
        if let queue { condition.append(" AND queue = \(queue)") }
        return try await retry(where: condition, on: connection)
    }

    private static func retry(where condition: PostgresQuery, on connection: PostgresConnection) async throws -> Int {
        var query: PostgresQuery = """
            WITH moved AS (
                UPDATE pdx_jobs SET state = 'available', scheduled_at = now(), finalized_at = NULL,
                    max_attempts = greatest(max_attempts, attempt + 1)
                WHERE
            """
        query.append(" ")
        query.append(condition)
        query.append("""

                RETURNING queue
            ), woken AS (
                SELECT pg_notify(\(jobsChannel), queue) FROM (SELECT DISTINCT queue FROM moved) q
            )
            SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM woken)
            """)
        return try await connection.query(query)[0].decode(Int.self, Int.self).0
    }

    /// Cancels a job that has not finished: one waiting is cancelled at once; a running one is
    /// cancelled in the database (its worker's completion then no longer applies). Returns false when no
    /// unfinished job has this id.
    public static func cancel(id: Int64, reason: String = "cancelled by an administrator", on connection: PostgresConnection) async throws -> Bool {
        try await connection.execute("""
            UPDATE pdx_jobs SET state = 'cancelled', finalized_at = now(), lease_expires_at = NULL,
                errors = errors || jsonb_build_array(jsonb_build_object('at', now(), 'attempt', attempt, 'error', \(reason)::text))
            WHERE id = \(id) AND state IN ('available', 'scheduled', 'running', 'retryable')
            """) == 1
    }

    /// Deletes finalized jobs older than the given ages; returns how many.
    public static func prune(completedOlderThan completed: Duration, failedOlderThan failed: Duration,
                             on connection: PostgresConnection) async throws -> Int {
        var total = 0
        var deleted = 0
        repeat {
            deleted = try await connection.execute("""
                DELETE FROM pdx_jobs WHERE id IN (
                    SELECT id FROM pdx_jobs
                    WHERE finalized_at < now() - make_interval(secs => CASE WHEN state = 'completed' THEN \(completed.seconds) ELSE \(failed.seconds) END)
                    ORDER BY finalized_at LIMIT 10000)
                """)
            total += deleted
        } while deleted == 10_000
        return total
    }

    private static let recordColumns = """
        SELECT id, queue, kind, args::text AS args, priority::int8 AS priority, state::text AS state,
               attempt::int8 AS attempt, max_attempts::int8 AS max_attempts, scheduled_at, attempted_at, attempted_by,
               lease_expires_at, errors, unique_key, created_at, finalized_at
        """
}
