import Foundation
import JobQueue
import LocalPostgres
public import Logging
import MarketStore
import Migrations
import PDXCommandLine
import Postgres
import MarketJobs

/// `pdx bench match`: matching on a synthetic market (by default 100,000 listed products and 20,000 open
/// demands) on a durable PostgreSQL. Planted demands, each with products made to answer it, give the
/// single-demand latency (the handler's work, timed in this process, against the catalogue in memory as a
/// worker holds it) and recall@10; new products give the product latency, in a market whose demands hold no
/// proposal yet (the worst case) and again once worker processes (`pdx work --queues match`) have matched every
/// open demand; a burst of demands posted with their jobs is then matched by the same workers, whose peak
/// memory is read; every proposal made is then checked against the hard rules.
public struct MatchBenchmark: Sendable {
    public struct Options: Sendable {
        public var databaseURL: String?
        public var products: Int
        public var demands: Int
        public var seed: UInt64
        /// Planted demands: the single-demand samples and the recall ground truth.
        public var planted: Int
        public var productSamples: Int
        public var burst: Int
        public var workers: Int
        /// Jobs each worker process runs at once.
        public var concurrency: Int
        /// The `pdx` executable the worker processes run.
        public var executable: String

        public init(databaseURL: String?, products: Int = 100_000, demands: Int = 20_000, seed: UInt64 = 1, planted: Int = 500,
                    productSamples: Int = 200, burst: Int = 10_000, workers: Int = 2, concurrency: Int = 64, executable: String) {
            self.databaseURL = databaseURL
            self.products = products
            self.demands = demands
            self.seed = seed
            self.planted = planted
            self.productSamples = productSamples
            self.burst = burst
            self.workers = workers
            self.concurrency = concurrency
            self.executable = executable
        }
    }

    public let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Runs every step, printing progress with `say`, and returns the figures, one `name: value unit` each.
    public func run(say: @Sendable (String) -> Void) async throws -> [String] {
        try await withBenchmarkDatabase(options.databaseURL, name: "match", maxConnections: 4, logger: logger, say: say) { pool, url in
            try await measure(pool, url: url, say: say)
        }
    }

    private func measure(_ pool: PostgresPool, url: String, say: @Sendable (String) -> Void) async throws -> [String] {
        try await pool.withConnection { connection in _ = try await Migrator.embedded(logger: logger).migrate(on: connection) }
        let listed = try await pool.query("SELECT count(*) FROM products WHERE state = 'listed'").scalar(Int64.self) ?? 0
        if listed == 0 {
            say("seeding \(options.products) products and \(options.demands) open demands (seed \(options.seed))…")
            let progress = ProgressLine("seed")
            try await SyntheticMarket(products: options.products, demands: options.demands, seed: options.seed).generate(on: pool) { progress.update($0) }
            progress.finish("done")
        } else {
            say("using the market already in the database: \(listed) listed products")
        }
        let store = MarketStore(pool: pool)
        var additions = try await SyntheticAdditions.load(from: pool, seed: options.seed &+ UInt64(listed))
        var figures: [String] = []

        // One new demand at a time, with its planted answers.
        say("planting \(options.planted) demands with 3 products made for each…")
        let planted = try await additions.plant(options.planted, on: pool)
        try await pool.execute("VACUUM ANALYZE")
        // Warm up on other demands, so that every planted one is matched, and timed, fresh.
        let warmUp = try await pool.query("""
            SELECT id FROM demands WHERE state = 'open' AND id <> ALL(\(planted.map(\.demandID))) ORDER BY id LIMIT 20
            """).decode(UUID.self)
        // The catalogue in memory, as a worker loads it and keeps it current.
        let catalogue = CatalogueMemory()
        let loadStart = ContinuousClock.now
        let listener = try PostgresListener(configuration: PostgresConfiguration(connectionString: url, applicationName: "pdx bench catalogue"),
                                            logger: logger)
        let following = Task { try await catalogue.follow(listener, pool: pool) }
        defer {
            following.cancel()
            listener.shutdown()
        }
        while !catalogue.isReady {
            guard ContinuousClock.now - loadStart < .seconds(300) else { throw LocalPostgresError("the catalogue did not load within 5 minutes") }
            try await Task.sleep(for: .milliseconds(10))
        }
        figures.append(String(format: "catalogue load: %.2f s", (ContinuousClock.now - loadStart) / .seconds(1)))
        figures.append("catalogue in memory: \(catalogue.count) products")
        say(figures.suffix(2).joined(separator: "\n"))
        for demand in warmUp { _ = try await store.matchDemand(demand, catalogue: catalogue) }
        var demandTimes: [Double] = [], candidates: [Double] = []
        var found = 0, wanted = 0
        for sample in planted {
            let start = ContinuousClock.now
            let result = try await store.matchDemand(sample.demandID, catalogue: catalogue)
            demandTimes.append(milliseconds(ContinuousClock.now - start))
            candidates.append(Double(result.candidates))
            let top = Set(try await pool.query("""
                SELECT product_id FROM matches WHERE demand_id = \(sample.demandID) AND state = 'proposed'
                """).decode(UUID.self))
            found += sample.productIDs.filter(top.contains).count
            wanted += sample.productIDs.count
        }
        figures.append(String(format: "demand match p50: %.2f ms", percentile(demandTimes, 0.50)))
        figures.append(String(format: "demand match p99: %.2f ms", percentile(demandTimes, 0.99)))
        figures.append(String(format: "demand match candidates p50: %.0f products", percentile(candidates, 0.50)))
        figures.append(String(format: "recall@10: %.4f", wanted == 0 ? 0 : Double(found) / Double(wanted)))
        say(figures.suffix(4).joined(separator: "\n"))

        // One new product at a time, against the open demands, none of which holds a proposal yet: the worst case.
        say("listing \(options.productSamples) new products one at a time (unsettled market)…")
        let newProducts = try await additions.products(options.productSamples, on: pool)
        figures += try await productSamples(newProducts, store: store, label: " (unsettled)")
        say(figures.suffix(3).joined(separator: "\n"))

        // How long a change takes to reach the copy in memory: from the commit of a catalogue refresh (what
        // every listing, delisting, revision or suspension runs) until the copy has applied it.
        var staleness: [Double] = []
        for product in newProducts.prefix(100) {
            let before = catalogue.generation
            let start = ContinuousClock.now
            try await pool.execute("SELECT pdx_catalogue_refresh(\(product))")
            while catalogue.generation == before {
                guard ContinuousClock.now - start < .seconds(10) else { throw LocalPostgresError("a catalogue change did not reach memory in 10 s") }
                try await Task.sleep(for: .microseconds(200))
            }
            staleness.append(milliseconds(ContinuousClock.now - start))
        }
        figures.append(String(format: "catalogue staleness p50: %.2f ms", percentile(staleness, 0.50)))
        figures.append(String(format: "catalogue staleness p99: %.2f ms", percentile(staleness, 0.99)))
        say(figures.suffix(2).joined(separator: "\n"))

        // Worker processes settle the market (every open demand matched), then new products are timed again,
        // and then a burst of demands is matched by them.
        if options.burst > 0 {
            let processes = try await startWorkers(pool, url: url, say: say)
            defer { for process in processes where process.isRunning { process.terminate() } }
            figures += try await settle(pool, processes: processes, say: say)
            say("listing \(options.productSamples) new products one at a time (settled market)…")
            figures += try await productSamples(try await additions.products(options.productSamples, on: pool), store: store, label: "")
            say(figures.suffix(3).joined(separator: "\n"))
            figures += try await burst(pool, processes: processes, additions: &additions, say: say)
        }

        let violations = try await store.proposalsBreakingHardRules()
        figures.append("hard-rule violations: \(violations) proposals")
        return figures
    }

    /// Times `store.matchProduct` for each product, one at a time.
    private func productSamples(_ products: [UUID], store: MarketStore, label: String) async throws -> [String] {
        var times: [Double] = [], offered = 0
        for product in products {
            let start = ContinuousClock.now
            offered += try await store.matchProduct(product).count
            times.append(milliseconds(ContinuousClock.now - start))
        }
        return [
            String(format: "product match p50\(label): %.2f ms", percentile(times, 0.50)),
            String(format: "product match p99\(label): %.2f ms", percentile(times, 0.99)),
            String(format: "product proposals per product\(label): %.1f", Double(offered) / Double(max(1, products.count))),
        ]
    }

    /// Matches every open demand that holds no proposal through the workers (a market as it stands once its
    /// demands have been matched), and waits until they are done.
    private func settle(_ pool: PostgresPool, processes: [ChildProcess], say: @Sendable (String) -> Void) async throws -> [String] {
        let unsettled = try await pool.query("""
            SELECT id FROM demands d WHERE state = 'open' AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.demand_id = d.id) ORDER BY id
            """).decode(UUID.self)
        say("settling the market: matching its \(unsettled.count) open demands without proposals…")
        let start = ContinuousClock.now
        for chunk in stride(from: 0, to: unsettled.count, by: 1_000) {
            let jobs = try unsettled[chunk..<min(unsettled.count, chunk + 1_000)].map { try NewJob(MatchDemandJob(demandID: $0), queue: matchQueue) }
            try await pool.withTransaction { connection in _ = try await connection.enqueue(jobs) }
        }
        try await waitForMatchJobs(pool, processes: processes, since: start, what: "the market was not settled")
        return [String(format: "settling (%d demands): %.2f s", unsettled.count, (ContinuousClock.now - start) / .seconds(1))]
    }

    private func waitForMatchJobs(_ pool: PostgresPool, processes: [ChildProcess], since start: ContinuousClock.Instant, what: String) async throws {
        while try await pool.query("""
            SELECT count(*) FROM pdx_jobs WHERE kind = 'match_demand' AND state NOT IN ('completed', 'discarded', 'cancelled')
            """).scalar(Int64.self) ?? 0 > 0 {
            guard ContinuousClock.now - start < .seconds(600) else { throw LocalPostgresError("\(what) within 10 minutes") }
            guard processes.allSatisfy(\.isRunning) else {
                throw LocalPostgresError("a worker process stopped; see /tmp/pdx-bench-match-worker-\(getpid())-*.log")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Starts the worker processes and returns once each listens for jobs.
    private func startWorkers(_ pool: PostgresPool, url: String, say: @Sendable (String) -> Void) async throws -> [ChildProcess] {
        say("starting \(options.workers) worker processes (pdx work --queues match --concurrency \(options.concurrency))…")
        try await pool.execute("DELETE FROM pdx_jobs WHERE kind = 'match_demand'")
        var processes: [ChildProcess] = []
        for index in 0..<options.workers {
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: options.executable)
            process.arguments = ["work", "--database-url", url, "--queues", matchQueue, "--concurrency", "\(options.concurrency)",
                                 "--poll-interval", "100ms", "--log-level", "warning"] + (index == 0 ? [] : ["--no-maintenance"])
            let log = URL(fileURLWithPath: "/tmp/pdx-bench-match-worker-\(getpid())-\(index).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            processes.append(process)
        }
        // Ready when every worker holds its LISTEN connection for jobs (its catalogue loads meanwhile; settling
        // the market gives it time).
        let deadline = ContinuousClock.now + .seconds(60)
        while try await pool.query("""
            SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pdx work' AND query ILIKE 'LISTEN%'
            """).scalar(Int64.self) ?? 0 < Int64(options.workers) {
            guard ContinuousClock.now < deadline, processes.allSatisfy(\.isRunning) else {
                for process in processes where process.isRunning { process.terminate() }
                throw LocalPostgresError("the worker processes did not start; see /tmp/pdx-bench-match-worker-\(getpid())-*.log")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return processes
    }

    /// Posts the burst and waits until the workers have matched it.
    private func burst(_ pool: PostgresPool, processes: [ChildProcess], additions: inout SyntheticAdditions,
                       say: @Sendable (String) -> Void) async throws -> [String] {
        say("posting \(options.burst) demands in transactions of 1,000, each with its match_demand job…")
        let start = ContinuousClock.now
        let posted = try await additions.postDemands(options.burst, on: pool)
        let postedAfter = ContinuousClock.now - start
        try await waitForMatchJobs(pool, processes: processes, since: start, what: "the burst was not matched")
        let elapsed = ContinuousClock.now - start
        let peak = processes.compactMap { APIBenchmark.peakResidentMegabytes(of: $0.processIdentifier) }.max() ?? 0
        for process in processes { process.terminate() }
        for process in processes { process.waitUntilExit() }
        let failed = try await pool.query("""
            SELECT count(*) FROM pdx_jobs WHERE kind = 'match_demand' AND (state <> 'completed' OR attempt > 1)
            """).scalar(Int64.self) ?? 0
        let served = try await pool.query("""
            SELECT count(DISTINCT demand_id) FROM matches WHERE demand_id = ANY(\(posted))
            """).scalar(Int64.self) ?? 0
        let seconds = elapsed / .seconds(1)
        let lines = [
            String(format: "burst matched (%d demands, %d workers): %.2f s", options.burst, options.workers, seconds),
            String(format: "burst rate: %.0f demands/s", Double(options.burst) / seconds),
            String(format: "burst posting: %.2f s", postedAfter / .seconds(1)),
            "burst demands with proposals: \(served) demands",
            "burst jobs retried or failed: \(failed) jobs",
            String(format: "worker peak RSS: %.0f MB", peak),
        ]
        say(lines.joined(separator: "\n"))
        return lines
    }
}
