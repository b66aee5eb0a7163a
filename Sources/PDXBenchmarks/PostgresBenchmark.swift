import Foundation
import LocalPostgres
import Market
public import Logging
import Postgres

/// `pdx bench pg`: prepared single-row SELECT round trips per second through this project's client,
/// beside `pgbench -S -M prepared` (libpq in C) with the same client counts against the same database,
/// in one invocation.
public struct PostgresBenchmark: Sendable {
    public struct Options: Sendable {
        public var databaseURL: String?
        public var clients: [Int]
        public var duration: Duration
        public var runs: Int
        /// pgbench scale factor (100,000 accounts per unit).
        public var scale: Int
        /// Connections in the pool for the pool figures; nil for one per client.
        public var poolConnections: Int?

        public init(databaseURL: String? = nil, clients: [Int] = [1, 4], duration: Duration = .seconds(5), runs: Int = 3, scale: Int = 1,
                    poolConnections: Int? = nil) {
            self.databaseURL = databaseURL
            self.clients = clients
            self.duration = duration
            self.runs = runs
            self.scale = scale
            self.poolConnections = poolConnections
        }
    }

    /// One client count's figures, medians over the runs.
    public struct Figures: Sendable {
        public var clients: Int
        /// The pool's size for the pool figures.
        public var poolConnections: Int
        public var pdx: Double
        public var pgbench: Double
        public var pdxPoolPerQuery: Double
        /// Median of the per-run ratios pdx / pgbench.
        public var ratio: Double
        /// Median of the per-run ratios of the pool's checkout-per-query rate to pgbench's.
        public var poolRatio: Double
    }

    public let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Runs the comparison, reporting each run's figures through `say` as they come.
    public func run(say: @Sendable (String) -> Void) async throws -> [Figures] {
        let pgbench = try Self.findPgbench()
        let (connectionString, cluster) = try await target()
        do {
            let figures = try await measure(pgbench: pgbench, connectionString: connectionString, say: say)
            try? await cluster?.destroy()
            return figures
        } catch {
            try? await cluster?.destroy()
            throw error
        }
    }

    private func measure(pgbench: String, connectionString: String, say: @Sendable (String) -> Void) async throws -> [Figures] {
        say("preparing pgbench tables (scale \(options.scale))…")
        let initialized = try await ExternalProgram.run(pgbench, ["-i", "-q", "-s", "\(options.scale)", connectionString])
        guard initialized.status == 0 else { throw LocalPostgresError("pgbench -i failed: \(initialized.output)") }
        let accounts = 100_000 * options.scale
        let configuration = PostgresConfiguration(connectionString: connectionString, applicationName: "pdx bench")

        var figures: [Figures] = []
        for clients in options.clients {
            var pdxRates: [Double] = [], pgbenchRates: [Double] = [], poolRates: [Double] = [], ratios: [Double] = [], poolRatios: [Double] = []
            for run in 1...options.runs {
                // Each run interleaves one-second segments of pgbench and pdx, alternating which goes first,
                // so that drift in the machine's speed (common on shared hosts) hits both sides alike. Like
                // each pgbench invocation, each pdx segment opens fresh connections (not timed), so neither
                // side keeps one placement of its threads on the CPUs for a whole run.
                var pgbenchTotal = Measurement(), pdxTotal = Measurement()
                for segment in 0..<segments {
                    var pgbenchPart = Measurement(), pdxPart = Measurement()
                    if segment % 2 == 0 {
                        pgbenchPart = try await runPgbench(pgbench, clients: clients, connectionString: connectionString)
                        pdxPart = try await runClient(configuration, clients: clients, accounts: accounts, checkoutPerQuery: false)
                    } else {
                        pdxPart = try await runClient(configuration, clients: clients, accounts: accounts, checkoutPerQuery: false)
                        pgbenchPart = try await runPgbench(pgbench, clients: clients, connectionString: connectionString)
                    }
                    logger.debug("segment", metadata: ["bench.segment": "\(segment)", "bench.pgbench_tps": "\(Int(pgbenchPart.rate))", "bench.pdx_tps": "\(Int(pdxPart.rate))"])
                    pgbenchTotal.add(pgbenchPart)
                    pdxTotal.add(pdxPart)
                }
                let poolRate = try await runClient(configuration, clients: clients, accounts: accounts, checkoutPerQuery: true,
                                                   connections: poolConnections(clients)).rate
                say("run \(run) pgbench (\(Self.label(clients))): \(Int(pgbenchTotal.rate)) tps")
                say("run \(run) pdx (\(Self.label(clients))): \(Int(pdxTotal.rate)) tps")
                say("run \(run) pdx, pool checkout per query (\(Self.label(clients, pool: poolConnections(clients)))): \(Int(poolRate)) tps")
                pgbenchRates.append(pgbenchTotal.rate)
                pdxRates.append(pdxTotal.rate)
                poolRates.append(poolRate)
                ratios.append(pdxTotal.rate / pgbenchTotal.rate)
                poolRatios.append(poolRate / pgbenchTotal.rate)
            }
            figures.append(Figures(clients: clients, poolConnections: poolConnections(clients), pdx: median(pdxRates), pgbench: median(pgbenchRates),
                                   pdxPoolPerQuery: median(poolRates), ratio: median(ratios),
                                   poolRatio: median(poolRatios)))
        }
        return figures
    }

    /// Seconds per side per run, measured one second at a time.
    private var segments: Int { max(1, Int(options.duration.components.seconds)) }

    /// Transactions over time, accumulated across segments.
    struct Measurement {
        var transactions = 0.0
        var seconds = 0.0
        var rate: Double { seconds > 0 ? transactions / seconds : 0 }
        mutating func add(_ other: Measurement) {
            transactions += other.transactions
            seconds += other.seconds
        }
    }

    /// The lines scripts read: medians over the runs.
    public static func summary(_ figures: [Figures]) -> [String] {
        figures.flatMap { figure in [
            "pgbench (\(label(figure.clients))): \(Int(figure.pgbench)) tps",
            "pdx (\(label(figure.clients))): \(Int(figure.pdx)) tps",
            "pdx, pool checkout per query (\(label(figure.clients, pool: figure.poolConnections))): \(Int(figure.pdxPoolPerQuery)) tps",
            "ratio to pgbench (\(label(figure.clients))): \(String(format: "%.2f", figure.ratio))",
            "pool ratio to pgbench (\(label(figure.clients, pool: figure.poolConnections))): \(String(format: "%.2f", figure.poolRatio))",
        ] }
    }

    /// "4 clients"; with a pool of another size than the client count, "32 clients, pool of 8".
    static func label(_ clients: Int, pool: Int? = nil) -> String {
        let base = clients == 1 ? "1 client" : "\(clients) clients"
        guard let pool, pool != clients else { return base }
        return "\(base), pool of \(pool)"
    }

    private func poolConnections(_ clients: Int) -> Int { options.poolConnections ?? clients }

    /// The database to measure: DATABASE_URL's, or a throwaway cluster removed afterwards.
    private func target() async throws -> (String, LocalPostgres?) {
        if let url = options.databaseURL { return (url, nil) }
        let folder = URL(fileURLWithPath: "/tmp/pdx-bench-\(getpid())")
        let cluster = LocalPostgres(directory: folder, profile: .test)
        let endpoint = try await cluster.start()
        try cluster.removeWhenProcessExits(pid: getpid())
        return (endpoint.connectionString(database: "postgres"), cluster)
    }

    private func runPgbench(_ pgbench: String, clients: Int, connectionString: String) async throws -> Measurement {
        let outcome = try await ExternalProgram.run(pgbench, [
            "-n", "-S", "-M", "prepared", "-c", "\(clients)", "-j", "\(clients)", "-T", "1", connectionString,
        ])
        let lines = outcome.output.split(separator: "\n")
        guard outcome.status == 0,
              let tpsLine = lines.first(where: { $0.hasPrefix("tps = ") }),
              let rate = Double(tpsLine.dropFirst(6).prefix(while: { $0 != " " })),
              let countLine = lines.first(where: { $0.hasPrefix("number of transactions actually processed: ") }),
              let count = Double(countLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces).prefix(while: \.isNumber)),
              rate > 0
        else { throw LocalPostgresError("pgbench failed: \(outcome.output)") }
        // pgbench's rate excludes connection time; keep its own figure by deriving the time from it.
        return Measurement(transactions: count, seconds: count / rate)
    }

    /// Opens and warms every connection (and prepares the statement) before any clock starts.
    private func warm(_ pool: PostgresPool, clients: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    try await pool.withConnection { connection in
                        _ = try await connection.query("SELECT abalance FROM pgbench_accounts WHERE aid = \(Int32(1))")
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// `clients` tasks run the pgbench select-only statement with random keys: each on a connection of its
    /// own, or (`checkoutPerQuery`) each statement through `PostgresPool.query`.
    private func runClient(_ configuration: PostgresConfiguration, clients: Int, accounts: Int, checkoutPerQuery: Bool,
                           connections: Int? = nil) async throws -> Measurement {
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: connections ?? clients), logger: logger)
        do {
            try await warm(pool, clients: min(clients, connections ?? clients))
            let measurement = try await measure(pool, clients: clients, accounts: accounts, checkoutPerQuery: checkoutPerQuery)
            await pool.close()
            return measurement
        } catch {
            await pool.close()
            throw error
        }
    }

    private func measure(_ pool: PostgresPool, clients: Int, accounts: Int, checkoutPerQuery: Bool) async throws -> Measurement {
        let start = ContinuousClock.now + .milliseconds(20)
        let end = start + .seconds(1)
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for client in 0..<clients {
                group.addTask {
                    try await Task.sleep(until: start)
                    let seed = UInt64.random(in: 1...UInt64.max) &+ UInt64(client)
                    if checkoutPerQuery {
                        var random = SplitMix64(seed: seed)
                        var count = 0
                        while ContinuousClock.now < end {
                            let aid = Int32(random.next() % UInt64(accounts)) + 1
                            _ = try await pool.query("SELECT abalance FROM pgbench_accounts WHERE aid = \(aid)").scalar(Int32.self)
                            count += 1
                        }
                        return count
                    }
                    return try await pool.withConnection { connection in
                        var random = SplitMix64(seed: seed)
                        var count = 0
                        while ContinuousClock.now < end {
                            let aid = Int32(random.next() % UInt64(accounts)) + 1
                            let balance = try await connection.query("SELECT abalance FROM pgbench_accounts WHERE aid = \(aid)").scalar(Int32.self)
                            if balance == nil { throw LocalPostgresError("account \(aid) is missing") }
                            count += 1
                        }
                        return count
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        return Measurement(transactions: Double(total), seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// pgbench beside the PostgreSQL server programs, or else on PATH.
    static func findPgbench() throws -> String {
        let binaries = try PostgresBinaries.find()
        guard let pgbench = binaries.optionalPath("pgbench") ?? onPath("pgbench") else {
            throw LocalPostgresError("pgbench was not found beside \(binaries.directory.path) or on PATH; install it with the postgresql package")
        }
        return pgbench
    }

    private static func onPath(_ program: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            .map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
