import Foundation
@testable import JobQueue
import LocalPostgres
import Logging
import Migrations
import PDXTestSupport
import Postgres
import Testing

/// `pdx work` processes against real PostgreSQL: crashes, server restarts, and several workers at once.
@Suite(.serialized) struct WorkerProcessTests {
    @Test func aKilledWorkersJobsRunAgainAndTakeEffectExactlyOnce() async throws {
        try await withQueueDatabase { database, pool in
            let total = 20_000
            try await enqueue(total, of: DiagnosticJobs.Effect(milliseconds: 2), into: pool)
            let url = TestDatabase.connectionString(database)
            let doomed = try WorkerProcessHandle(url: url, name: "doomed", arguments: ["--lease", "2s", "--concurrency", "40", "--claim-batch", "20"])
            let survivor = try WorkerProcessHandle(url: url, name: "survivor", arguments: ["--lease", "2s", "--concurrency", "40", "--claim-batch", "20"])
            defer { doomed.kill(); survivor.kill() }

            try await waitUntil("a quarter of the jobs done", within: .seconds(120)) {
                try doomed.ensureRunning()
                try survivor.ensureRunning()
                return try await count(pool, where: "state = 'completed'") >= total / 4
            }
            try await waitUntil("the doomed worker holds jobs", within: .seconds(60)) {
                try await count(pool, where: "state = 'running' AND attempted_by LIKE '%:\(doomed.pid):%'") > 0
            }
            let killedAt = Date()
            doomed.kill()
            try await Task.sleep(for: .milliseconds(300))  // let its backends finish whatever it had sent
            // The jobs it held: still running under its name, or already taken back from it and not since finished by
            // it (on a machine loaded by the rest of the suite its 2 s leases can run out before the kill, and the
            // survivor's rescuer moves them).
            let orphans = try await pool.query("""
                SELECT id FROM pdx_jobs
                WHERE (state = 'running' AND attempted_by LIKE \("%:\(doomed.pid):%"))
                   OR (errors::text LIKE \("%the lease expired: worker %:\(doomed.pid):%")
                       AND NOT (state = 'completed' AND attempted_by LIKE \("%:\(doomed.pid):%")))
                """).decode(Int64.self)
            #expect(!orphans.isEmpty, "the worker was killed with jobs in hand")

            try await waitUntil("every job completed", within: .seconds(180)) {
                try survivor.ensureRunning()
                return try await count(pool, where: "state = 'completed'") == total
            }
            #expect(try await count(pool, where: "state <> 'completed'") == 0)
            let (effects, distinct) = try await pool.query("SELECT count(*), count(DISTINCT job_id) FROM pdx_job_effects")[0].decode(Int.self, Int.self)
            #expect(effects == total && distinct == total, "each job took effect exactly once")
            // The orphans were rescued within 15 s of the kill (a 2 s lease, a rescuer every second, a busy machine), and ran
            // again, elsewhere. (When they finish depends on how fast the survivor drains the ~15,000 jobs queued before them,
            // which the rest of the suite running beside this test slows: 31 to 35 s once the suite grew in issue 17, so that is
            // not what this asserts.)
            let rerun = try await pool.query("""
                SELECT max(finalized_at), bool_and(attempted_by NOT LIKE \("%:\(doomed.pid):%")),
                       bool_and(errors::text LIKE \("%the lease expired: worker %:\(doomed.pid):%")),
                       max((errors -> 0 ->> 'at')::timestamptz)
                FROM pdx_jobs WHERE id = ANY(\(orphans))
                """)[0].decode(Date?.self, Bool?.self, Bool?.self, Date?.self)
            let lastRerun = try #require(rerun.0), lastRescue = try #require(rerun.3)
            #expect(lastRescue.timeIntervalSince(killedAt) < 15, "orphans rescued \(lastRescue.timeIntervalSince(killedAt)) s after the kill")
            #expect(lastRerun > lastRescue && lastRerun.timeIntervalSince(killedAt) < 120, "orphans finished \(lastRerun.timeIntervalSince(killedAt)) s after the kill")
            #expect(rerun.1 == true, "another worker ran them")
            #expect(rerun.2 == true, "their history says why they ran again")
            #expect(try await survivor.terminate() == 0)
            #expect(try await count(pool, where: "state = 'running'") == 0)
        }
    }

    @Test func workersRideOutAPostgreSQLRestartAndFinishEveryJob() async throws {
        let folder = URL(fileURLWithPath: "/tmp/pdx-restart-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        let cluster = LocalPostgres(directory: folder, profile: .test)
        let endpoint = try await cluster.start()
        try cluster.removeWhenProcessExits(pid: getpid())
        defer { Task { try? await cluster.destroy() } }
        let database = PostgresConfiguration(connectionString: endpoint.connectionString(database: "postgres"))
        try await withConnection(database) { connection in
            _ = try await Migrator.embedded(logger: quietLogger).migrate(on: connection)
        }
        let pool = PostgresPool(configuration: .init(connection: database, maxConnections: 4), logger: quietLogger)
        let effects = 3_000, records = 3_000
        try await enqueue(effects, of: DiagnosticJobs.Effect(milliseconds: 2), into: pool)
        try await enqueue(records, of: DiagnosticJobs.Record(milliseconds: 2), into: pool)
        await pool.close()
        let url = endpoint.connectionString(database: "postgres")
        let workers = try ["one", "two"].map {
            try WorkerProcessHandle(url: url, name: $0, arguments: ["--lease", "4s", "--concurrency", "20", "--claim-batch", "10"])
        }
        defer { for worker in workers { worker.kill() } }

        let monitor = PostgresPool(configuration: .init(connection: database, maxConnections: 1), logger: quietLogger)
        try await waitUntil("some jobs done", within: .seconds(60)) {
            for worker in workers { try worker.ensureRunning() }
            return try await count(monitor, where: "state = 'completed'") >= 1_000
        }
        await monitor.close()
        try await cluster.stop(immediate: true)  // as if it crashed
        try await Task.sleep(for: .seconds(1))
        try await cluster.start()

        let after = PostgresPool(configuration: .init(connection: database, maxConnections: 1), logger: quietLogger)
        try await waitUntil("every job completed after the restart", within: .seconds(120)) {
            for worker in workers { try worker.ensureRunning() }
            return try await count(after, where: "state = 'completed'") == effects + records
        }
        let (rows, distinct) = try await after.query("""
            SELECT count(*), count(DISTINCT job_id) FROM pdx_job_effects e JOIN pdx_jobs j ON j.id = e.job_id WHERE j.kind = \(DiagnosticJobs.Effect.kind)
            """)[0].decode(Int.self, Int.self)
        #expect(rows == effects && distinct == effects, "transactional jobs took effect exactly once: \(rows) rows for \(distinct) of \(effects) jobs")
        #expect(try await overlappingRuns(after) == 0, "no job ran twice at the same time")
        for worker in workers { #expect(try await worker.terminate() == 0) }
        #expect(try await count(after, where: "state = 'running'") == 0)
        await after.close()
    }

    @Test func twoWorkersShareAQueueWithoutEverRunningAJobTwice() async throws {
        try await withQueueDatabase { database, pool in
            let total = 3_000
            try await enqueue(total, of: DiagnosticJobs.Record(milliseconds: 3), into: pool)
            let url = TestDatabase.connectionString(database)
            let workers = try ["left", "right"].map {
                try WorkerProcessHandle(url: url, name: $0, arguments: ["--concurrency", "25", "--claim-batch", "5"])
            }
            defer { for worker in workers { worker.kill() } }
            try await waitUntil("every job completed", within: .seconds(120)) {
                for worker in workers { try worker.ensureRunning() }
                return try await count(pool, where: "state = 'completed'") == total
            }
            for worker in workers { #expect(try await worker.terminate() == 0) }
            let perWorker = try await pool.query("SELECT worker, count(*) FROM pdx_job_effects GROUP BY worker").decode(String.self, Int.self)
            #expect(perWorker.count == 2 && perWorker.allSatisfy { $0.1 > total / 10 }, "both workers took a share: \(perWorker)")
            let (rows, distinct) = try await pool.query("SELECT count(*), count(DISTINCT job_id) FROM pdx_job_effects")[0].decode(Int.self, Int.self)
            #expect(rows == total && distinct == total, "each job ran once")
            #expect(try await overlappingRuns(pool) == 0)
        }
    }

    @Test func sigtermStopsAWorkerCleanlyAndHandsBackItsJobs() async throws {
        try await withQueueDatabase { database, pool in
            try await enqueue(20, of: DiagnosticJobs.Sleep(milliseconds: 60_000), into: pool)
            let worker = try WorkerProcessHandle(
                url: TestDatabase.connectionString(database), name: "sleepy", arguments: ["--concurrency", "10", "--shutdown-timeout", "500ms"])
            defer { worker.kill() }
            try await waitUntil("ten jobs running") {
                try worker.ensureRunning()
                return try await count(pool, where: "state = 'running'") == 10
            }
            let (status, elapsed) = try await measure { try await worker.terminate() }
            #expect(status == 0)
            #expect(elapsed < .seconds(20), "the 60 s jobs are handed back after the 500 ms grace, not awaited")
            #expect(try await count(pool, where: "state = 'running'") == 0)
            #expect(try await count(pool, where: "state = 'available' AND attempt = 0") == 20)
        }
    }
}

// MARK: Helpers

private func enqueue<A: JobArguments>(_ count: Int, of args: A, into pool: PostgresPool) async throws {
    let job = try NewJob(args)
    var done = 0
    while done < count {
        let batch = min(5_000, count - done)
        try await pool.enqueue(Array(repeating: job, count: batch))
        done += batch
    }
}

/// Pairs of recorded runs of the same job whose times overlap.
private func overlappingRuns(_ pool: PostgresPool) async throws -> Int {
    try await pool.query("""
        SELECT count(*) FROM pdx_job_effects a JOIN pdx_job_effects b
            ON a.job_id = b.job_id AND a.ctid < b.ctid
           AND a.started_at < b.finished_at AND b.started_at < a.finished_at
        """).scalar(Int.self) ?? 0
}

/// A `pdx work --diagnostics` process; its log goes to a file shown when a test fails.
final class WorkerProcessHandle: Sendable {
    let process: ChildProcess
    let logPath: String
    var pid: Int32 { process.processIdentifier }

    init(url: String, name: String, arguments: [String]) throws {
        let process = ChildProcess()
        process.executableURL = try pdxExecutable()
        process.arguments = ["work", "--database-url", url, "--diagnostics", "--log-level", "notice", "--poll-interval", "200ms"] + arguments
        logPath = NSTemporaryDirectory() + "pdx-work-\(name)-\(getpid())-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
    }

    /// Fails with the log's tail if the process has exited.
    func ensureRunning() throws {
        guard process.isRunning else { throw WorkerExited(status: process.terminationStatus, log: logTail()) }
    }

    /// SIGKILL, at once.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGTERM, then waits (up to 30 s) for the exit status.
    func terminate() async throws -> Int32 {
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill()
                Issue.record("pdx work did not stop within 30 s of SIGTERM; log:\n\(logTail())")
                return -1
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if process.terminationStatus != 0 { Issue.record("pdx work exited with \(process.terminationStatus); log:\n\(logTail())") }
        return process.terminationStatus
    }

    func logTail() -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return String(text.suffix(4_000))
    }
}

struct WorkerExited: Error, CustomStringConvertible {
    var status: Int32
    var log: String
    var description: String { "pdx work exited with status \(status); its log ends with:\n\(log)" }
}

