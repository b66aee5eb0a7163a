import Foundation
@testable import JobQueue
import PDXTestSupport
import Postgres
import Testing

@Suite struct MaintenanceTests {
    @Test func oneLeaderAtATimeAndAnotherTakesOverWhenItStops() async throws {
        try await withQueueDatabase { database, _ in
            let workers = try ["a", "b", "c"].map {
                try JobWorker(configuration: fastConfiguration(workerID: $0), registry: JobRegistry(), database: database, logger: quietLogger)
            }
            let runs = workers.map { worker in Task { try await worker.run() } }
            defer { for (worker, _) in zip(workers, runs) { worker.stop() } }
            try await waitUntil("a leader elected") { workers.contains(where: \.isLeader) }
            try await Task.sleep(for: .milliseconds(600))  // several election rounds
            #expect(workers.filter(\.isLeader).count == 1)
            let leader = try #require(workers.firstIndex { $0.isLeader })
            workers[leader].stop()
            try await runs[leader].value
            // Election rounds are 200 ms apart; the bound is against "never", generous for a loaded machine.
            try await waitUntil("another leader elected", within: .seconds(30)) {
                workers.enumerated().contains { $0.offset != leader && $0.element.isLeader }
            }
            #expect(workers.filter(\.isLeader).count == 1)
            for (index, worker) in workers.enumerated() where index != leader { worker.stop() }
            for run in runs { try await run.value }
        }
    }

    @Test func jobsOfAWorkerThatVanishedAreRescuedAndRunAgain() async throws {
        try await withQueueDatabase { database, pool in
            // A crashed worker's job: running, its lease expired a moment ago.
            let id = try await pool.query("""
                INSERT INTO pdx_jobs (kind, args, state, attempt, attempted_at, attempted_by, lease_expires_at)
                VALUES (\(Greeting.kind), '{"name": "orphan", "times": 1}', 'running', 1, now() - interval '1 minute', 'ghost', now() - interval '1 second')
                RETURNING id
                """).scalar(Int64.self)!
            let ran = Observed<Int?>(nil)
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in
                ran.update { $0 = job.attempt }
                return .completed
            }
            let worker = try JobWorker(configuration: fastConfiguration(), registry: registry, database: database, logger: quietLogger)
            try await whileRunning(worker) {
                // A bound against "never rescued", not a latency figure (the killed-worker test in WorkerProcessTests measures
                // the rescue): a new worker elects its leader, which rescues; beside the whole suite on two cores this took
                // more than 10 s in CI once issue 17's tests joined it.
                try await waitUntil("the orphan completed", within: .seconds(30)) { try await state(id, pool) == "completed" }
            }
            #expect(ran.current == 2)
            let row = try await record(id, pool)
            #expect(row.errors.count == 1)
            #expect(row.errors.first?.error.contains("the lease expired: worker ghost stopped renewing it") == true)
        }
    }

    @Test func aRescuedJobWithNoAttemptLeftIsDiscarded() async throws {
        try await withQueueDatabase { database, pool in
            let id = try await pool.query("""
                INSERT INTO pdx_jobs (kind, state, attempt, max_attempts, attempted_by, lease_expires_at)
                VALUES ('test.anything', 'running', 3, 3, 'ghost', now() - interval '1 second') RETURNING id
                """).scalar(Int64.self)!
            let worker = try JobWorker(configuration: fastConfiguration(), registry: JobRegistry(), database: database, logger: quietLogger)
            try await whileRunning(worker) {
                try await waitUntil("the orphan discarded", within: .seconds(30)) { try await state(id, pool) == "discarded" }
            }
            #expect(try await record(id, pool).finalizedAt != nil)
        }
    }

    @Test func finalizedJobsArePrunedAfterTheirRetention() async throws {
        try await withQueueDatabase { database, pool in
            try await pool.execute("""
                INSERT INTO pdx_jobs (queue, kind, state, finalized_at, args) VALUES
                    ('default', 'old', 'completed', now() - interval '2 hours', '{"keep": false}'),
                    ('default', 'recent', 'completed', now() - interval '10 minutes', '{"keep": true}'),
                    ('default', 'old', 'discarded', now() - interval '2 hours', '{"keep": true}'),
                    ('default', 'old', 'discarded', now() - interval '3 days', '{"keep": false}'),
                    ('elsewhere', 'live', 'available', NULL, '{"keep": true}')
                """)
            var configuration = fastConfiguration()
            configuration.maintenance.completedRetention = .seconds(3600)
            configuration.maintenance.failedRetention = .seconds(24 * 3600)
            configuration.maintenance.pruneInterval = .milliseconds(100)
            let worker = try JobWorker(configuration: configuration, registry: JobRegistry(), database: database, logger: quietLogger)
            try await whileRunning(worker) {
                try await waitUntil("old rows pruned") { try await count(pool, where: "true") == 3 }
            }
            #expect(try await count(pool, where: "(args->>'keep')::bool") == 3)
        }
    }
}
