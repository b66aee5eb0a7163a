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
                    let rate = try await single(configuration, admin: admin)
                    say("run \(run) single: \(Int(rate)) jobs/s")
                    record("single", rate, "jobs/s")
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
            return unit == "ms" ? String(format: "%@: %.2f %@", name, value, unit) : "\(name): \(Int(value)) \(unit)"
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
            try await Task.sleep(for: .seconds(5))
            backlog = max(backlog, try await admin.query("SELECT count(*) FROM pdx_jobs WHERE state = 'available'").scalar(Int.self) ?? 0)
        }
        try await enqueuer.value
        let completed = try await completedCount(admin) - completedBefore
        let elapsed = ContinuousClock.now - begin
        await stop(workers, running)
        await pool.close()
        return (Double(completed) / elapsed.seconds, backlog)
    }

    /// Claims one job per round trip and records each completion on its own (alone, or carried by the
    /// next claim), with up to sixteen claims and sixteen completions in flight across two workers.
    private func single(_ configuration: PostgresConfiguration, admin: PostgresConnection) async throws -> Double {
        let count = min(options.jobs, 20_000)
        try await prefill(count, configuration)
        let workers = try makeWorkers(configuration, count: 2, concurrency: 16, batch: 1, claimers: 8,
                                      completionBatch: 1, completionWriters: 8)
        let start = ContinuousClock.now
        let running = launch(workers)
        try await waitUntilDrained(workers, count: count, admin: admin)
        let elapsed = ContinuousClock.now - start
        await stop(workers, running)
        return Double(count) / elapsed.seconds
    }

    /// On an idle queue, one job at a time: from the enqueue's commit to the handler's start.
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
            try await pool.enqueue(job)
            let committed = ContinuousClock.now
            guard let started = await iterator.next() else { break }
            samples.append(max(0, (started - committed).seconds * 1000))
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
