#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Postgres

/// The channel workers LISTEN on; each notification's payload names a queue that has new work.
let jobsChannel = "pdx_jobs"

extension PostgresConnection {
    /// Enqueues a job in the current transaction (if any): it becomes visible to workers when that
    /// transaction commits, together with whatever else the transaction changed.
    @discardableResult
    public func enqueue(_ job: NewJob) async throws -> EnqueuedJob {
        try await enqueue([job])[0]
    }

    /// Enqueues jobs in one round trip (plus one more for duplicates of unique keys), in the current
    /// transaction if any. Results are in the order of `jobs`. With `wake` (the default) the workers of the
    /// queues of available jobs are notified when the transaction commits; without it, the caller wakes them
    /// after the commit (`JobWakeUps`), or they find the jobs at their next poll.
    @discardableResult
    public func enqueue(_ jobs: [NewJob], wake: Bool = true) async throws -> [EnqueuedJob] {
        guard !jobs.isEmpty else { return [] }
        for job in jobs { try job.validate() }
        var queues: [String] = [], kinds: [String] = [], args: [String] = [], priorities: [Int16] = []
        var attempts: [Int16] = [], runAt: [Date?] = [], keys: [String?] = []
        for job in jobs {
            queues.append(job.queue)
            kinds.append(job.kind)
            args.append(job.args)
            priorities.append(Int16(job.priority))
            attempts.append(Int16(job.maxAttempts))
            runAt.append(job.runAt)
            keys.append(job.uniqueKey)
        }
        // Rows are inserted, and their ids drawn, in input order: sorted by id, the inserted rows line up
        // with the inputs that were not duplicates. Without unique keys there can be none, and the
        // statement is simpler.
        let hasKeys = jobs.contains { $0.uniqueKey != nil }
        let conflict: PostgresQuery = hasKeys
            ? "ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable') DO NOTHING"
            : ""
        let rows = try await query("""
            WITH inserted AS (
                INSERT INTO pdx_jobs (queue, kind, args, priority, max_attempts, scheduled_at, state, unique_key)
                SELECT queue, kind, args, priority, max_attempts, coalesce(run_at, now()),
                       CASE WHEN run_at > now() THEN 'scheduled' ELSE 'available' END::pdx_job_state, unique_key
                FROM unnest(\(queues), \(kinds), \(args)::text[]::jsonb[], \(priorities), \(attempts), \(runAt), \(keys))
                    AS i(queue, kind, args, priority, max_attempts, run_at, unique_key)
                \(conflict)
                RETURNING id, queue, state, unique_key
            ), woken AS (
                SELECT pg_notify(\(jobsChannel), queue) FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'available' AND \(wake)) q
            )
            SELECT id, unique_key, (SELECT count(*) FROM woken) FROM inserted
            """)
        var inserted = try rows.decode(Int64.self, String?.self, Int.self).sorted { $0.0 < $1.0 }.makeIterator()
        var results: [EnqueuedJob?] = []
        var missing: [Int] = []
        var next = inserted.next()
        for (index, job) in jobs.enumerated() {
            // An input was inserted unless its key conflicted (with an existing job or an earlier input).
            if let row = next, job.uniqueKey == nil || row.1 == job.uniqueKey {
                results.append(EnqueuedJob(id: row.0, duplicate: false))
                next = inserted.next()
            } else {
                results.append(nil)
                missing.append(index)
            }
        }
        if !missing.isEmpty {
            let keys = missing.compactMap { jobs[$0].uniqueKey }
            let existing = try await query("""
                SELECT unique_key, id FROM pdx_jobs
                WHERE unique_key = ANY(\(keys)) AND state IN ('available', 'scheduled', 'running', 'retryable')
                """).decode(String.self, Int64.self)
            let byKey = Dictionary(existing, uniquingKeysWith: { first, _ in first })
            for index in missing {
                guard let key = jobs[index].uniqueKey, let id = byKey[key] else {
                    throw PostgresError(kind: .invalidUsage, message: """
                        job \(index) (unique key \(jobs[index].uniqueKey ?? "")) was neither inserted nor found; \
                        its duplicate finished meanwhile: enqueue it again
                        """)
                }
                results[index] = EnqueuedJob(id: id, duplicate: true)
            }
        }
        return results.compactMap { $0 }
    }
}

extension PostgresPool {
    /// Enqueues a job in a transaction of its own.
    @discardableResult
    public func enqueue(_ job: NewJob) async throws -> EnqueuedJob {
        try await withConnection { try await $0.enqueue(job) }
    }

    /// Enqueues jobs in a transaction of their own.
    @discardableResult
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueuedJob] {
        try await withTransaction { try await $0.enqueue(jobs) }
    }
}
