#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Postgres

/// The work one process does for every queue, as the elected leader: make due jobs available, rescue
/// jobs whose worker vanished, prune finalized jobs past retention, and count queue depth.
///
/// Leadership is a session-level advisory lock held on a connection of its own: if the leader's process
/// or connection dies, the lock goes with it and another process takes over at its next election try.
struct Maintenance {
    let worker: JobWorker
    /// The advisory lock key of the leadership ("pdx.jobs.leader").
    static let lockKey: Int64 = 0x7064_782E_6A6F_6273

    var configuration: JobWorker.Configuration.Maintenance { worker.configuration.maintenance }

    func run() async {
        while !Task.isCancelled {
            do {
                try await standForElection()
            } catch is CancellationError {
                break
            } catch {
                worker.logger.warning("maintenance stopped by an error; standing for election again", metadata: ["error": "\(error)"])
            }
            worker.setLeader(false)
            try? await Task.sleep(for: configuration.electionInterval)
        }
        worker.setLeader(false)
    }

    /// Tries to take the lock; while holding it, does the maintenance on that connection.
    private func standForElection() async throws {
        var settings = worker.pool.configuration.connection
        settings.applicationName = "pdx jobs leader"
        // Vacuum cannot run with a SET LOCAL or in a transaction; plain session settings are fine.
        let connection = try await PostgresConnection.connect(configuration: settings, logger: worker.logger)
        defer { Task { await connection.close() } }
        guard try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey))").scalar(Bool.self) == true else {
            return
        }
        worker.setLeader(true)
        var lastRescue = ContinuousClock.now - configuration.rescueInterval
        var lastPrune = ContinuousClock.now - configuration.pruneInterval
        var lastVacuum = ContinuousClock.now
        while !Task.isCancelled {
            try await schedule(on: connection)
            if ContinuousClock.now - lastRescue >= configuration.rescueInterval {
                lastRescue = .now
                try await rescue(on: connection)
                try await countDepth(on: connection)
            }
            if ContinuousClock.now - lastPrune >= configuration.pruneInterval {
                lastPrune = .now
                try await prune(on: connection)
            }
            if let interval = configuration.vacuumInterval, ContinuousClock.now - lastVacuum >= interval {
                lastVacuum = .now
                try await vacuumIfNeeded(on: connection)
            }
            try await Task.sleep(for: configuration.schedulerInterval)
        }
    }

    /// Makes scheduled and retryable jobs whose time has come available, and wakes their queues.
    func schedule(on connection: PostgresConnection) async throws {
        var moved = 0
        repeat {
            moved = try await connection.query("""
                WITH due AS (
                    SELECT id FROM pdx_jobs
                    WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= now()
                    ORDER BY scheduled_at LIMIT 5000
                    FOR UPDATE SKIP LOCKED
                ), moved AS (
                    UPDATE pdx_jobs AS j SET state = 'available' FROM due WHERE j.id = due.id RETURNING j.queue
                ), woken AS (
                    SELECT pg_notify(\(jobsChannel), queue) FROM (SELECT DISTINCT queue FROM moved) q
                )
                SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM woken)
                """)[0].decode(Int.self, Int.self).0
        } while moved == 5000 && !Task.isCancelled
    }

    /// Returns the jobs of workers that stopped renewing their leases: retryable, or discarded when they
    /// have no attempt left, with the reason in their error history.
    func rescue(on connection: PostgresConnection) async throws {
        let rescued = try await connection.query("""
            WITH expired AS (
                SELECT id FROM pdx_jobs
                WHERE state = 'running' AND lease_expires_at < now()
                ORDER BY lease_expires_at LIMIT 10000
                FOR UPDATE SKIP LOCKED
            )
            UPDATE pdx_jobs AS j SET
                state = CASE WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'retryable' END::pdx_job_state,
                scheduled_at = now(),
                finalized_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
                lease_expires_at = NULL,
                errors = j.errors || jsonb_build_array(jsonb_build_object(
                    'at', now(), 'attempt', j.attempt, 'worker', j.attempted_by,
                    'error', 'the lease expired: worker ' || coalesce(j.attempted_by, '?')
                             || ' stopped renewing it (it crashed, hung or lost its database connection)'))
            FROM expired WHERE j.id = expired.id
            RETURNING j.id
            """).count
        if rescued > 0 {
            worker.logger.notice("rescued jobs whose lease expired", metadata: ["job.count": "\(rescued)"])
            try await schedule(on: connection)
        }
    }

    /// Deletes finalized jobs past their retention, a batch at a time.
    func prune(on connection: PostgresConnection) async throws {
        let deleted = try await JobAdmin.prune(
            completedOlderThan: configuration.completedRetention, failedOlderThan: configuration.failedRetention, on: connection)
        if deleted > 0 { worker.logger.info("pruned finalized jobs", metadata: ["job.count": "\(deleted)"]) }
    }

    /// Vacuums the jobs table when dead rows have piled up. Every claim leaves a dead entry at the head
    /// of the claim index, and claims walk past them until a vacuum removes them; autovacuum looks at a
    /// table at most once a minute (the server's naptime), far too rarely for a busy queue.
    func vacuumIfNeeded(on connection: PostgresConnection) async throws {
        let dead = try await connection.query("""
            SELECT coalesce(n_dead_tup, 0) FROM pg_stat_user_tables WHERE relid = 'pdx_jobs'::regclass
            """).scalar(Int.self) ?? 0
        guard dead >= configuration.vacuumThreshold else { return }
        let started = ContinuousClock.now
        do {
            try await connection.executeScript(unsafeSQL: "VACUUM (INDEX_CLEANUP ON) pdx_jobs")
        } catch let error as PostgresError where error.code == .insufficientPrivilege {
            worker.logger.warning("cannot vacuum pdx_jobs (not its owner); leaving it to autovacuum", metadata: ["error": "\(error)"])
            return
        }
        worker.logger.debug("vacuumed pdx_jobs", metadata: [
            "job.dead_rows": "\(dead)", "duration_ms": "\((ContinuousClock.now - started).nanoseconds / 1_000_000)"])
    }

    /// Counts available jobs of the worker's queues (index-only on the claim index).
    func countDepth(on connection: PostgresConnection) async throws {
        let queues = Array(worker.configuration.queues.keys)
        let rows = try await connection.query("""
            SELECT queue, count(*) FROM pdx_jobs WHERE state = 'available' AND queue = ANY(\(queues)) GROUP BY queue
            """).decode(String.self, Int.self)
        worker.recordDepth(Dictionary(rows, uniquingKeysWith: +))
    }
}
