import Foundation
@testable import JobQueue
import Logging
import PDXTestSupport
import Postgres
import Synchronization
import Testing

/// A migrated test database and a pool on it.
func withQueueDatabase<R: Sendable>(
    _ body: (PostgresConfiguration, PostgresPool) async throws -> R
) async throws -> R {
    try await TestDatabase.withMigratedDatabase { configuration in
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 8), logger: quietLogger)
        do {
            let result = try await body(configuration, pool)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "test.jobs")
    logger.logLevel = .warning
    return logger
}()

/// Worker settings that make tests quick: short polls and maintenance intervals.
///
/// The lease is long unless a test asks otherwise: beside the whole suite on two cores a worker's heartbeat or
/// the write of a job's end can be held up for seconds, and a lease that expires meanwhile has the rescuer run
/// the job again, an extra attempt in its history that the test did not cause (CI saw a discarded job claimed
/// twice under a 5 s lease). Tests of leases and rescues set their own or write expired rows themselves.
func fastConfiguration(
    queues: [String: Int] = [NewJob.defaultQueue: 10], workerID: String = "test-worker",
    lease: Duration = .seconds(60), shutdownTimeout: Duration = .seconds(5)
) -> JobWorker.Configuration {
    var configuration = JobWorker.Configuration(
        queues: queues, claimBatch: 10, pollInterval: .milliseconds(200), lease: lease,
        shutdownTimeout: shutdownTimeout, retryBase: .milliseconds(200), workerID: workerID)
    configuration.maintenance.schedulerInterval = .milliseconds(20)
    configuration.maintenance.rescueInterval = .milliseconds(200)
    configuration.maintenance.electionInterval = .milliseconds(200)
    return configuration
}

/// Runs `worker` while `body` runs, then stops it gracefully and waits for it to return.
func whileRunning<R: Sendable>(_ worker: JobWorker, _ body: () async throws -> R) async throws -> R {
    let running = Task { try await worker.run() }
    do {
        let result = try await body()
        worker.stop()
        try await running.value
        return result
    } catch {
        worker.stop()
        _ = try? await running.value
        throw error
    }
}

/// Polls `condition` every 20 ms until it holds, failing after `limit`.
/// The default limit is long: these tests check what happens, not how fast; with the whole suite running at
/// once on two cores a worker may wait tens of seconds for the CPU. Tests about timing pass their own limit.
func waitUntil(
    _ what: String, within limit: Duration = .seconds(90), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// One job's row, as `pdxctl queue show` reads it.
func record(_ id: Int64, _ pool: PostgresPool) async throws -> JobAdmin.JobRecord {
    try await pool.withConnection { connection in
        try #require(try await JobAdmin.show(id: id, on: connection))
    }
}

func state(_ id: Int64, _ pool: PostgresPool) async throws -> String {
    try await pool.query("SELECT state::text FROM pdx_jobs WHERE id = \(id)").scalar(String.self) ?? "missing"
}

func count(_ pool: PostgresPool, where condition: String) async throws -> Int {
    try await pool.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM pdx_jobs WHERE \(condition)")).scalar(Int.self) ?? 0
}

/// A thread-safe box for what handlers observe.
final class Observed<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
    var current: Value { value.withLock { $0 } }
}

struct Greeting: JobArguments {
    static let kind = "test.greeting"
    var name: String
    var times: Int
}
