import Foundation
import JobQueue
import LocalPostgres
public import Logging
import Migrations
import Postgres
import Synchronization

/// `pdx bench queue`: no-op jobs through the job queue on a durable PostgreSQL, in five modes.
public struct QueueBenchmark: Sendable {
    public enum Mode: String, CaseIterable, Sendable {
        case enqueue, burnDown = "burn-down", steady, single, latency
    }

    public struct Options: Sendable {
        public var databaseURL: String?
        public var modes: [Mode]
        public var runs: Int
        /// Jobs for burn-down and enqueue.
        public var jobs: Int
        /// Worker processes (in this process) for burn-down and steady.
        public var workers: Int
        public var concurrency: Int
        public var claimBatch: Int
        /// Concurrent claim loops and completion writers per worker, for burn-down and steady.
        public var claimers = 2
        public var completionWriters = 2
        /// Steady: jobs enqueued per second, and for how long.
        public var steadyRate: Int
        public var steadyDuration: Duration
        /// Latency: jobs measured one at a time.
        public var latencySamples: Int
        /// Commit the workers' claims and completions asynchronously (see `JobWorker.Configuration`).
        public var asyncBookkeeping: Bool = false

        public init(databaseURL: String? = nil, modes: [Mode] = Mode.allCases, runs: Int = 3, jobs: Int = 200_000,
                    workers: Int = 2, concurrency: Int = 200, claimBatch: Int = 200, steadyRate: Int = 32_000,
                    steadyDuration: Duration = .seconds(60), latencySamples: Int = 1_000) {
            self.databaseURL = databaseURL
            self.modes = modes
            self.runs = runs
            self.jobs = jobs
            self.workers = workers
            self.concurrency = concurrency
            self.claimBatch = claimBatch
            self.steadyRate = steadyRate
            self.steadyDuration = steadyDuration
            self.latencySamples = latencySamples
        }
    }

    public let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Runs every mode `runs` times; reports each run through `say`; returns the summary lines (medians).
    public func run(say: @escaping @Sendable (String) -> Void) async throws -> [String] {
        let (url, cluster) = try await target(say: say)
        do {
            let lines = try await measure(url, say: say)
            try? await cluster?.destroy()
            return lines
        } catch {
            try? await cluster?.destroy()
            throw error
        }
    }

    private func measure(_ url: String, say: @escaping @Sendable (String) -> Void) async throws -> [String] {
        let configuration = PostgresConfiguration(connectionString: url, applicationName: "pdx bench queue")
        let admin = try await PostgresConnection.connect(configuration: configuration, logger: logger)
        defer { Task { await admin.close() } }
        try await Migrator.embedded(logger: logger).migrate(on: admin)
        var figures: [String: [Double]] = [:]
        var order: [(String, String)] = []
        func record(_ name: String, _ value: Double, _ unit: String) {
            if figures[name] == nil { order.append((name, unit)) }
            figures[name, default: []].append(value)
        }
        for run in 1...options.runs {
            for mode in options.modes {
                try await admin.execute("TRUNCATE pdx_jobs, pdx_job_effects")
                try await admin.executeScript(unsafeSQL: "VACUUM ANALYZE pdx_jobs")
                switch mode {
                case .enqueue:
                    let rate = try await enqueueRate(configuration)
                    say("run \(run) enqueue: \(Int(rate)) jobs/s")
                    record("enqueue", rate, "jobs/s")
                case .burnDown:
                    let rate = try await burnDown(configuration, admin: admin)
                    say("run \(run) burn-down: \(Int(rate)) jobs/s")
                    record("burn-down", rate, "jobs/s")
                case .steady:
                    let (rate, backlog) = try await steady(configuration, admin: admin)
                    say("run \(run) steady: \(Int(rate)) jobs/s (backlog at most \(backlog) jobs)")
                    record("steady", rate, "jobs/s")
                    record("steady backlog max", Double(backlog), "jobs")
                case .single:
                    let rate = try await single(configuration, admin: admin, completionBatch: 1)
                    say("run \(run) single: \(Int(rate)) jobs/s")
                    record("single", rate, "jobs/s")
                    try await admin.execute("TRUNCATE pdx_jobs")
                    let grouped = try await single(configuration, admin: admin, completionBatch: 16)
                    say("run \(run) single, completions grouped by up to 16: \(Int(grouped)) jobs/s")
                    record("single, completions grouped by up to 16", grouped, "jobs/s")
                    // The same SQL driven by pgbench (libpq in C) right after, as the yardstick.
                    try await admin.execute("TRUNCATE pdx_jobs")
                    let baseline = try await singleBaseline(url, configuration)
                    say("run \(run) single pgbench baseline: \(Int(baseline)) jobs/s")
                    record("single pgbench baseline", baseline, "jobs/s")
                    record("single ratio to pgbench", rate / baseline, "")
                case .latency:
                    let (p50, p99) = try await latency(configuration)
                    say(String(format: "run \(run) latency p50: %.2f ms, p99: %.2f ms", p50, p99))
                    record("latency p50", p50, "ms")
                    record("latency p99", p99, "ms")
                }
            }
        }
        return order.map { name, unit in
            let value = median(figures[name] ?? [])
            switch unit {
            case "ms": return String(format: "%@: %.2f ms", name, value)
            case "": return String(format: "%@: %.2f", name, value)
            default: return "\(name): \(Int(value)) \(unit)"
            }
        }
    }

    // MARK: Modes

    /// Batched inserts of no-op jobs from two connections.
    private func enqueueRate(_ configuration: PostgresConfiguration) async throws -> Double {
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2), logger: logger)
        defer { Task { await pool.close() } }
        let batch = 2_000
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<2 {
                group.addTask {
                    let jobs = Array(repeating: NewJob(kind: DiagnosticJobs.Noop.kind), count: batch)
                    var done = part * batch
                    while done < options.jobs {
                        try await pool.enqueue(Array(jobs.prefix(min(batch, options.jobs - done))))
                        done += 2 * batch
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(options.jobs) / (ContinuousClock.now - start).seconds
    }

    /// Pre-fills the queue, then drains it with the workers.
    private func burnDown(_ configuration: PostgresConfiguration, admin: PostgresConnection) async throws -> Double {
        try await prefill(options.jobs, configuration)
        try await admin.executeScript(unsafeSQL: "VACUUM ANALYZE pdx_jobs")
        let workers = try makeWorkers(configuration, count: options.workers, concurrency: options.concurrency, batch: options.claimBatch,
                                      claimers: options.claimers, completionWriters: options.completionWriters)
        let start = ContinuousClock.now
        let running = launch(workers)
        try await waitUntilDrained(workers, count: options.jobs, admin: admin)
        let elapsed = ContinuousClock.now - start
        await stop(workers, running)
        return Double(options.jobs) / elapsed.seconds
    }

    /// Enqueues at a fixed rate while the workers run; returns jobs completed per second and the largest
    /// backlog seen.
    private func steady(_ configuration: PostgresConfiguration, admin: PostgresConnection) async throws -> (Double, Int) {
        let workers = try makeWorkers(configuration, count: options.workers, concurrency: options.concurrency, batch: options.claimBatch,
                                      claimers: options.claimers, completionWriters: options.completionWriters)
        let running = launch(workers)
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2), logger: logger)
        let tick = Duration.milliseconds(20)
        let perTick = max(1, Int(Double(options.steadyRate) * tick.seconds))
        let begin = ContinuousClock.now
        let end = begin + options.steadyDuration
        let enqueuer = Task {
            let jobs = Array(repeating: NewJob(kind: DiagnosticJobs.Noop.kind), count: perTick)
            var next = begin
            while ContinuousClock.now < end {
                try await pool.enqueue(jobs)
                next += tick
                try await Task.sleep(until: next)
            }
        }
        var backlog = 0
        let completedBefore = try await completedCount(admin)
        // Sample the backlog every five seconds: counting it costs the database too.
        while ContinuousClock.now < end {
            try await Task.sleep(until: min(ContinuousClock.now + .seconds(5), end))
            backlog = max(backlog, try await admin.query("SELECT count(*) FROM pdx_jobs WHERE state = 'available'").scalar(Int.self) ?? 0)
        }
        try await enqueuer.value
        let completed = try await completedCount(admin) - completedBefore
        let elapsed = ContinuousClock.now - begin
        await stop(workers, running)
        await pool.close()
        return (Double(completed) / elapsed.seconds, backlog)
    }

    /// Claims one job per round trip, sixteen claims in flight, 32 jobs running. Completions are written
    /// `completionBatch` per statement (alone, or carried by the next claim). These settings were the
    /// fastest of those tried on the project's machine (1 or 2 workers, 8 to 16 claimers, 1 to 4 writers).
    private func single(_ configuration: PostgresConfiguration, admin: PostgresConnection, completionBatch: Int) async throws -> Double {
        let count = min(options.jobs, 20_000)
        try await prefill(count, configuration)
        let workers = try makeWorkers(configuration, count: 1, concurrency: 32, batch: 1, claimers: 16,
                                      completionBatch: completionBatch, completionWriters: completionBatch == 1 ? 1 : 2)
        let start = ContinuousClock.now
        let running = launch(workers)
        try await waitUntilDrained(workers, count: count, admin: admin)
        let elapsed = ContinuousClock.now - start
        await stop(workers, running)
        return Double(count) / elapsed.seconds
    }

    /// pgbench running the worker's own claim (batch 1) and completion statements, each committed on its
    /// own, from sixteen clients over as many jobs as `single` drains.
    private func singleBaseline(_ url: String, _ configuration: PostgresConfiguration) async throws -> Double {
        let clients = 16
        let perClient = min(options.jobs, 20_000) / clients
        try await prefill(perClient * clients, configuration)
        let script = """
            WITH next AS (
                SELECT id FROM pdx_jobs WHERE state = 'available' AND queue = 'default'
                ORDER BY priority, scheduled_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
            UPDATE pdx_jobs AS j SET state = 'running', attempt = j.attempt + 1, attempted_at = now(),
                attempted_by = 'pgbench', lease_expires_at = now() + make_interval(secs => 30)
            FROM next WHERE j.id = next.id
            RETURNING j.id AS id, j.attempt AS attempt
            \\gset
            UPDATE pdx_jobs AS j SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
            WHERE j.id = :id AND j.attempt = :attempt AND j.state = 'running';

            """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pdx-bench-single-\(getpid()).sql")
        try script.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let outcome = try await ExternalProgram.run(try PostgresBenchmark.findPgbench(), [
            "-n", "-M", "prepared", "-c", "\(clients)", "-j", "2", "-t", "\(perClient)", "-f", file.path, url,
        ])
        guard outcome.status == 0,
              let line = outcome.output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let rate = Double(line.dropFirst(6).prefix(while: { $0 != " " })), rate > 0
        else { throw LocalPostgresError("pgbench failed: \(outcome.output)") }
        return rate
    }

    /// On an idle queue, one job at a time: from the enqueue call (its round trip included) to the handler's start.
    private func latency(_ configuration: PostgresConfiguration) async throws -> (Double, Double) {
        let (starts, continuation) = AsyncStream<ContinuousClock.Instant>.makeStream()
        var registry = JobRegistry()
        registry.register(LatencyProbe.self) { _ in
            continuation.yield(.now)
            return .completed
        }
        // Notifications alone must wake the worker: polling is slowed down to once a minute.
        let worker = try JobWorker(
            configuration: .init(queues: [NewJob.defaultQueue: 10], pollInterval: .seconds(60), asyncBookkeeping: options.asyncBookkeeping),
            registry: registry, database: configuration, logger: logger)
        let running = Task { try await worker.run() }
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1), logger: logger)
        try await Task.sleep(for: .milliseconds(500))  // let the worker connect and listen
        var iterator = starts.makeAsyncIterator()
        var samples: [Double] = []
        let job = try NewJob(LatencyProbe())
        for _ in 0..<options.latencySamples {
            // From the call, round trip included: the handler may start before the commit's
            // acknowledgement reaches this task.
            let enqueued = ContinuousClock.now
            try await pool.enqueue(job)
            guard let started = await iterator.next() else { break }
            samples.append((started - enqueued).seconds * 1000)
            try await Task.sleep(for: .milliseconds(2))
        }
        worker.stop()
        _ = try? await running.value
        await pool.close()
        samples.sort()
        return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)])
    }

    struct LatencyProbe: JobArguments {
        static let kind = "pdx.bench.latency"
    }

    // MARK: Helpers

    private func target(say: @Sendable (String) -> Void) async throws -> (String, LocalPostgres?) {
        if let url = options.databaseURL { return (url, nil) }
        say("starting a durable PostgreSQL for the benchmark…")
        let cluster = LocalPostgres(directory: URL(fileURLWithPath: "/tmp/pdx-bench-queue-\(getpid())"), profile: .dev)
        let endpoint = try await cluster.start()
        try cluster.removeWhenProcessExits(pid: getpid())
        return (endpoint.connectionString(database: "postgres"), cluster)
    }

    private func prefill(_ count: Int, _ configuration: PostgresConfiguration) async throws {
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2), logger: logger)
        let jobs = Array(repeating: NewJob(kind: DiagnosticJobs.Noop.kind), count: 5_000)
        var done = 0
        while done < count {
            try await pool.enqueue(Array(jobs.prefix(count - done)))
            done += 5_000
        }
        await pool.close()
    }

    private func makeWorkers(_ configuration: PostgresConfiguration, count: Int, concurrency: Int, batch: Int,
                             claimers: Int = 2, completionBatch: Int = 1000, completionWriters: Int = 2) throws -> [(JobWorker, PostgresPool)] {
        try (0..<count).map { index in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 4), logger: logger)
            var registry = JobRegistry()
            DiagnosticJobs.register(into: &registry, pool: pool, workerID: "bench-\(index)")
            var settings = JobWorker.Configuration(
                queues: [NewJob.defaultQueue: concurrency], claimBatch: batch, claimers: claimers,
                completionBatch: completionBatch, completionWriters: completionWriters, workerID: "bench-\(index)",
                asyncBookkeeping: options.asyncBookkeeping)
            settings.maintenance.enabled = index == 0
            return (try JobWorker(configuration: settings, registry: registry, database: configuration, logger: logger), pool)
        }
    }

    private func launch(_ workers: [(JobWorker, PostgresPool)]) -> [Task<Void, any Error>] {
        workers.map { worker, _ in Task { try await worker.run() } }
    }

    private func stop(_ workers: [(JobWorker, PostgresPool)], _ running: [Task<Void, any Error>]) async {
        for (worker, _) in workers { worker.stop() }
        for task in running { _ = try? await task.value }
        for (_, pool) in workers { await pool.close() }
    }

    /// Waits until the workers have recorded `count` attempts, then checks that nothing is left available
    /// or running. Progress is read from the workers, not the table: polling the table would cost the
    /// database a share of the work measured.
    private func waitUntilDrained(_ workers: [(JobWorker, PostgresPool)], count: Int, admin: PostgresConnection) async throws {
        var last = -1
        var lastProgress = ContinuousClock.now
        while true {
            let recorded = workers.reduce(0) { $0 + $1.0.recordedAttempts }
            if recorded >= count {
                let busy = try await admin.query("""
                    SELECT EXISTS (SELECT 1 FROM pdx_jobs WHERE state = 'available') OR EXISTS (SELECT 1 FROM pdx_jobs WHERE state = 'running')
                    """).scalar(Bool.self) ?? false
                if !busy { return }
            }
            if recorded != last {
                last = recorded
                lastProgress = .now
            } else if ContinuousClock.now - lastProgress > .seconds(60) {
                throw BenchmarkError("the workers recorded no job for 60 s (\(recorded) of \(count) recorded); see the log")
            }
            try await Task.sleep(for: .milliseconds(recorded >= count ? 20 : 1))
        }
    }

    private func completedCount(_ admin: PostgresConnection) async throws -> Int {
        try await admin.query("SELECT count(*) FROM pdx_jobs WHERE finalized_at IS NOT NULL").scalar(Int.self) ?? 0
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// A benchmark that could not produce its figure.
struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
