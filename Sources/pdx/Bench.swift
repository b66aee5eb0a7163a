import ArgumentParser
import Foundation
import Logging
import PDXCommandLine
import PDXBenchmarks
import PDXDev

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure pdx; each figure is printed as `name: value unit`.",
        subcommands: [BenchPostgres.self, BenchQueue.self, BenchSeed.self, BenchMatch.self, BenchAPI.self, BenchUsage.self, BenchSandbox.self, BenchConsole.self]
    )
}

struct BenchPostgres: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg",
        abstract: "Prepared single-row SELECTs per second through pdx's client, beside pgbench -S -M prepared.",
        discussion: """
            Both run against the same database in the same invocation: a throwaway PostgreSQL cluster, or \
            DATABASE_URL's database (pgbench -i then creates its pgbench_* tables there). Each run gives each \
            side --seconds seconds, interleaved one second at a time in alternating order; the summary gives \
            medians over the runs, and the ratio is the median of the runs' pdx/pgbench ratios.

            The pool figures (`pool checkout per query`, `pool ratio`) run each SELECT through \
            PostgresPool.query, one statement per call, with a pool of one connection per client; with \
            --pool-connections below the client count, statements wait for a connection and the pool runs \
            the waiting ones together, in batches.

            Examples:
              swift run -c release pdx bench pg --clients 1,4 --seconds 10 --runs 3
              swift run -c release pdx bench pg --clients 32 --pool-connections 8
            """
    )

    @Option(help: ArgumentHelp("Client counts to compare, comma-separated.", valueName: "n,m"))
    var clients: String = "1,4"

    @Option(help: ArgumentHelp("Seconds per side per run.", valueName: "seconds"))
    var seconds: Int = 5

    @Option(help: ArgumentHelp("Runs per client count (the summary reports medians).", valueName: "count"))
    var runs: Int = 3

    @Option(help: ArgumentHelp("pgbench scale factor (100,000 accounts each).", valueName: "factor"))
    var scale: Int = 1

    @Option(help: ArgumentHelp("Connections in the pool for the pool figures (default: one per client).", valueName: "count"))
    var poolConnections: Int?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    var clientCounts: [Int] { clients.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        let counts = clientCounts
        guard !counts.isEmpty, counts.count == clients.split(separator: ",").count, counts.allSatisfy({ (1...256).contains($0) }) else {
            throw ValidationError("--clients must be a comma-separated list of numbers from 1 to 256, got '\(clients)'")
        }
        guard (1...3600).contains(seconds) else { throw ValidationError("--seconds must be from 1 to 3600, got \(seconds)") }
        guard (1...99).contains(runs) else { throw ValidationError("--runs must be from 1 to 99, got \(runs)") }
        guard (1...1000).contains(scale) else { throw ValidationError("--scale must be from 1 to 1000, got \(scale)") }
        if let poolConnections, !(1...256).contains(poolConnections) {
            throw ValidationError("--pool-connections must be from 1 to 256, got \(poolConnections)")
        }
    }

    func run() async throws {
        log.bootstrap()
        let benchmark = PostgresBenchmark(
            options: .init(databaseURL: database.resolved, clients: clientCounts, duration: .seconds(seconds), runs: runs, scale: scale,
                           poolConnections: poolConnections),
            logger: Logger(label: "pdx.bench"))
        let figures = try await benchmark.run(say: say)
        for line in PostgresBenchmark.summary(figures) { say(line) }
    }
}


struct BenchQueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "No-op jobs through the job queue, on a durable PostgreSQL (fsync on).",
        discussion: """
            Modes: enqueue (batched inserts), burn-down (pre-filled jobs drained by the workers), steady \
            (enqueue at --steady-rate and work at once; the backlog must stay bounded), single (claims \
            of one job, sixteen in flight; completions one per statement, then grouped by up to 16; then \
            pgbench running the same claim and completion SQL, one commit each, as the yardstick), latency (idle queue, one job at a time, from \
            the enqueue call, its round trip included, to the handler's start). Workers run in this process. Without \
            DATABASE_URL a throwaway durable cluster is started; with it, the pdx_jobs and \
            pdx_job_effects tables there are truncated.

            Example:
              swift run -c release pdx bench queue --runs 3
              swift run -c release pdx bench queue --mode burn-down --mode latency
            """
    )

    @Option(help: ArgumentHelp("Modes to run (repeatable): enqueue, burn-down, steady, single, latency.", valueName: "mode"))
    var mode: [String] = []
    @Option(help: ArgumentHelp("Runs of each mode (the summary reports medians).", valueName: "count"))
    var runs = 3
    @Option(help: ArgumentHelp("Jobs for enqueue and burn-down.", valueName: "count"))
    var jobs = 200_000
    @Option(help: ArgumentHelp("Workers for burn-down and steady.", valueName: "count"))
    var workers = 1
    @Option(help: ArgumentHelp("Jobs each worker runs at once.", valueName: "count"))
    var concurrency = 4_000
    @Option(help: ArgumentHelp("Most jobs per claim.", valueName: "count"))
    var claimBatch = 1_000
    @Option(help: ArgumentHelp("Claim loops per worker, for burn-down and steady.", valueName: "count"))
    var claimers = 2
    @Option(help: ArgumentHelp("Completion writers per worker, for burn-down and steady.", valueName: "count"))
    var completionWriters = 2
    @Option(help: ArgumentHelp("Steady mode: jobs enqueued per second.", valueName: "rate"))
    var steadyRate = 32_000
    @Option(help: ArgumentHelp("Steady mode: how long.", valueName: "duration"))
    var steadyDuration = "60s"
    @Option(help: ArgumentHelp("Latency mode: jobs measured.", valueName: "count"))
    var latencySamples = 1_000
    @Flag(help: "Commit the workers' claims and completions without waiting for the disk (synchronous_commit off).")
    var asyncBookkeeping = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    var modes: [QueueBenchmark.Mode] { mode.isEmpty ? QueueBenchmark.Mode.allCases : mode.compactMap(QueueBenchmark.Mode.init(rawValue:)) }

    func validate() throws {
        let known = QueueBenchmark.Mode.allCases.map(\.rawValue)
        for name in mode where QueueBenchmark.Mode(rawValue: name) == nil {
            throw ValidationError("--mode must be one of \(known.joined(separator: ", ")), got '\(name)'")
        }
        guard (1...99).contains(runs) else { throw ValidationError("--runs must be from 1 to 99, got \(runs)") }
        guard (1_000...10_000_000).contains(jobs) else { throw ValidationError("--jobs must be from 1000 to 10000000, got \(jobs)") }
        guard (1...16).contains(workers) else { throw ValidationError("--workers must be from 1 to 16, got \(workers)") }
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 10000") }
        guard (1...10_000).contains(claimBatch) else { throw ValidationError("--claim-batch must be from 1 to 10000") }
        guard (1...1_000_000).contains(steadyRate) else { throw ValidationError("--steady-rate must be from 1 to 1000000") }
        guard (10...100_000).contains(latencySamples) else { throw ValidationError("--latency-samples must be from 10 to 100000") }
        guard (1...16).contains(claimers) else { throw ValidationError("--claimers must be from 1 to 16, got \(claimers)") }
        guard (1...64).contains(completionWriters) else {
            throw ValidationError("--completion-writers must be from 1 to 64, got \(completionWriters)")
        }
        guard try parseDuration(steadyDuration, option: "--steady-duration") >= .seconds(1) else {
            throw ValidationError("--steady-duration must be at least 1s")
        }
    }

    func run() async throws {
        log.bootstrap()
        var options = QueueBenchmark.Options(databaseURL: database.resolved, modes: modes, runs: runs, jobs: jobs, workers: workers,
                           concurrency: concurrency, claimBatch: claimBatch, steadyRate: steadyRate,
                           steadyDuration: try parseDuration(steadyDuration, option: "--steady-duration"),
                           latencySamples: latencySamples)
        options.asyncBookkeeping = asyncBookkeeping
        options.claimers = claimers
        options.completionWriters = completionWriters
        let benchmark = QueueBenchmark(options: options, logger: Logger(label: "pdx.bench"))
        for line in try await benchmark.run(say: say) { say(line) }
    }
}

struct BenchMatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract: "Matching at catalogue scale: one demand, one product, a burst of demands, recall@10.",
        discussion: """
            Seeds a synthetic market (unless the database already holds one, e.g. from `pdx bench seed`), then: \
            loads the catalogue in memory as a worker does (its load time, and how long a change takes to \
            reach it); plants demands with three products made to answer each and matches them one at a time \
            against it (the time of the match_demand handler's work, and recall@10 of the planted products); \
            lists new products one at a time against open demands that hold no proposal yet (unsettled); \
            starts --workers `pdx work --queues match` processes, which settle the market (match every open \
            demand without proposals), and lists new products again (settled); posts a burst of demands with \
            their jobs, timed from the first post until every job is done, and reads the workers' peak memory; \
            finally counts live proposals that break a hard rule (checked in SQL). --burst 0 runs no workers \
            (no settled figures, no burst). Without DATABASE_URL a throwaway durable cluster is started.
            Example:
              swift build -c release --product pdx && .build/release/pdx bench match
              .build/release/pdx bench match --products 10000 --demands 2000 --burst 1000
            """
    )

    @Option(help: ArgumentHelp("Listed products to seed.", valueName: "count"))
    var products = 100_000
    @Option(help: ArgumentHelp("Open demands to seed.", valueName: "count"))
    var demands = 20_000
    @Option(help: ArgumentHelp("The generator's seed.", valueName: "number"))
    var seed: UInt64 = 1
    @Option(help: ArgumentHelp("Planted demands, matched one at a time (latency samples and recall ground truth).", valueName: "count"))
    var planted = 500
    @Option(help: ArgumentHelp("New products matched one at a time.", valueName: "count"))
    var productSamples = 200
    @Option(help: ArgumentHelp("Demands posted in the burst (0 skips it).", valueName: "count"))
    var burst = 10_000
    @Option(help: ArgumentHelp("Worker processes for the burst.", valueName: "count"))
    var workers = 2
    @Option(help: ArgumentHelp("Jobs each worker process runs at once (matched together in batches).", valueName: "count"))
    var concurrency = 64
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (100...10_000_000).contains(products) else { throw ValidationError("--products must be from 100 to 10000000, got \(products)") }
        guard (0...10_000_000).contains(demands) else { throw ValidationError("--demands must be from 0 to 10000000, got \(demands)") }
        guard (10...100_000).contains(planted) else { throw ValidationError("--planted must be from 10 to 100000, got \(planted)") }
        guard (10...100_000).contains(productSamples) else { throw ValidationError("--product-samples must be from 10 to 100000, got \(productSamples)") }
        guard (0...1_000_000).contains(burst) else { throw ValidationError("--burst must be from 0 to 1000000, got \(burst)") }
        guard (1...16).contains(workers) else { throw ValidationError("--workers must be from 1 to 16, got \(workers)") }
        guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 256, got \(concurrency)") }
    }

    func run() async throws {
        log.bootstrap()
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let options = MatchBenchmark.Options(databaseURL: database.resolved, products: products, demands: demands, seed: seed, planted: planted,
                                             productSamples: productSamples, burst: burst, workers: workers, concurrency: concurrency,
                                             executable: executable)
        for line in try await MatchBenchmark(options: options, logger: Logger(label: "pdx.bench")).run(say: say) { say(line) }
    }
}

struct BenchAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "The HTTP API under wrk, beside pgbench -S: GET a product, POST a demand, p99 at half load, server memory.",
        discussion: """
            Starts `pdx serve` (rate limit off) against a seeded catalogue, then, in one run: pgbench -S and \
            wrk GET /v1/products/{id} (random listed products) alternately --runs times, wrk POST /v1/demands \
            (each opens at once and enqueues its match job in the same transaction) --runs times, both again \
            at half of their median peak (each connection pacing its requests), and reads the server's peak \
            resident memory. Figures are medians. Needs wrk (apt-get install wrk) and pgbench. Without \
            DATABASE_URL a throwaway durable cluster is started.
            Example:
              swift build -c release --product pdx && .build/release/pdx bench api
              .build/release/pdx bench api --seconds 5 --runs 1 --connections 16
              .build/release/pdx bench api --no-catalogue-cache   # every GET reads PostgreSQL
            """
    )

    @Option(help: ArgumentHelp("Listed products to seed when the catalogue is (nearly) empty.", valueName: "count"))
    var products = 10_000
    @Option(help: ArgumentHelp("Seconds per measurement.", valueName: "seconds"))
    var seconds = 10
    @Option(help: ArgumentHelp("Runs of each peak measurement (the summary reports medians).", valueName: "count"))
    var runs = 3
    @Option(help: ArgumentHelp("wrk connections and pgbench clients at peak.", valueName: "count"))
    var connections = 32
    @Option(help: ArgumentHelp("Database connections of the pdx serve process.", valueName: "count"))
    var serverConnections = 16
    @Flag(help: "Run pdx serve with --catalogue-cache 0: every GET reads the database.")
    var noCatalogueCache = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1_000...10_000_000).contains(products) else { throw ValidationError("--products must be from 1000 to 10000000, got \(products)") }
        guard (1...600).contains(seconds) else { throw ValidationError("--seconds must be from 1 to 600, got \(seconds)") }
        guard (1...20).contains(runs) else { throw ValidationError("--runs must be from 1 to 20, got \(runs)") }
        guard (1...1_000).contains(connections) else { throw ValidationError("--connections must be from 1 to 1000, got \(connections)") }
        guard (1...1_000).contains(serverConnections) else { throw ValidationError("--server-connections must be from 1 to 1000, got \(serverConnections)") }
    }

    func run() async throws {
        log.bootstrap()
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let options = APIBenchmark.Options(databaseURL: database.resolved, products: products, seconds: seconds, runs: runs,
                                           connections: connections, serverConnections: serverConnections,
                                           catalogueCache: noCatalogueCache ? 0 : 50_000, executable: executable)
        for line in try await APIBenchmark(options: options, logger: Logger(label: "pdx.bench")).run(say: say) { say(line) }
    }
}

struct BenchUsage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Delivery: usage ingested, tokens verified (by the API beside pgbench -S, and offline), a month closed.",
        discussion: """
            Seeds --entitlements delivered orders with usage in the previous month (and 1,000 more for the \
            ingestion), then measures in one run: POST /v1/usage with batches of 1,000 new events (wrk, 4 \
            connections; events/s is what the database counted), POST /v1/entitlements/verify at peak beside \
            pgbench -S and at half of peak, token verification offline on one core (tokens reused, as a \
            gateway sees them, and every signature checked), and closing the month (statements and ledger). \
            Needs wrk and pgbench. Without DATABASE_URL a throwaway durable cluster is started.
            Example:
              swift build -c release --product pdx && .build/release/pdx bench usage
              .build/release/pdx bench usage --entitlements 10000 --seconds 5
            """
    )

    @Option(help: ArgumentHelp("Entitlements with usage in the month closed.", valueName: "count"))
    var entitlements = 100_000
    @Option(help: ArgumentHelp("Seconds per measurement.", valueName: "seconds"))
    var seconds = 10
    @Option(help: ArgumentHelp("wrk connections and pgbench clients at peak.", valueName: "count"))
    var connections = 32
    @Option(help: ArgumentHelp("Database connections of the pdx serve process.", valueName: "count"))
    var serverConnections = 16
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1_000...10_000_000).contains(entitlements) else { throw ValidationError("--entitlements must be from 1000 to 10000000, got \(entitlements)") }
        guard (1...600).contains(seconds) else { throw ValidationError("--seconds must be from 1 to 600, got \(seconds)") }
        guard (1...1_000).contains(connections) else { throw ValidationError("--connections must be from 1 to 1000, got \(connections)") }
        guard (1...1_000).contains(serverConnections) else { throw ValidationError("--server-connections must be from 1 to 1000, got \(serverConnections)") }
    }

    func run() async throws {
        log.bootstrap()
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let options = UsageBenchmark.Options(databaseURL: database.resolved, entitlements: entitlements, seconds: seconds, connections: connections,
                                             serverConnections: serverConnections, executable: executable)
        for line in try await UsageBenchmark(options: options, logger: Logger(label: "pdx.bench")).run(say: say) { say(line) }
    }
}

struct BenchSandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "The sandbox: a grouped count-distinct and sum end to end (API, queue, worker), beside the bare SQL aggregate.",
        discussion: """
            Loads a dataset of --rows rows of --entities entities in 10 districts (by COPY, timed), then measures in one \
            run the plain SQL aggregate (SELECT district, count(DISTINCT entity), sum(cost) ... GROUP BY district) and \
            --analyses sandbox analyses of the same figures, each from POST /v1/sandbox/analyses to a pdx serve until \
            GET shows it done (polled every 2 ms), run by one pdx work. Without DATABASE_URL a throwaway durable \
            cluster is started.
            Example:
              swift build -c release --product pdx && .build/release/pdx bench sandbox
              .build/release/pdx bench sandbox --rows 100000 --entities 10000 --analyses 10
            """
    )

    @Option(help: ArgumentHelp("Rows of the dataset.", valueName: "count")) var rows = 1_000_000
    @Option(help: ArgumentHelp("Distinct entities among them.", valueName: "count")) var entities = 100_000
    @Option(help: ArgumentHelp("Analyses measured (after 3 to warm up).", valueName: "count")) var analyses = 30
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1_000...50_000_000).contains(rows) else { throw ValidationError("--rows must be from 1000 to 50000000, got \(rows)") }
        guard (100...rows).contains(entities) else { throw ValidationError("--entities must be from 100 to --rows, got \(entities)") }
        guard (5...900).contains(analyses) else { throw ValidationError("--analyses must be from 5 to 900, got \(analyses)") }
    }

    func run() async throws {
        log.bootstrap()
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let options = SandboxBenchmark.Options(databaseURL: database.resolved, rows: rows, entities: entities, analyses: analyses, executable: executable)
        for line in try await SandboxBenchmark(options: options, logger: Logger(label: "pdx.bench")).run(say: say) { say(line) }
    }
}

struct BenchConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "The console's overview page over a large market, end to end through pdx serve.",
        discussion: """
            Generates a market of --products products and --demands demands, matches --matched of them, then asks a \
            pdx serve for GET /console (the overview, an administrator signed in) --requests times after 10 to warm up, \
            one at a time, and prints the percentiles, with the store's overview query alone. Without DATABASE_URL a \
            throwaway durable cluster is started.
            Example:
              swift build -c release --product pdx && .build/release/pdx bench console
            """
    )

    @Option(help: ArgumentHelp("Products in the market.", valueName: "count")) var products = 100_000
    @Option(help: ArgumentHelp("Demands in the market.", valueName: "count")) var demands = 20_000
    @Option(help: ArgumentHelp("Demands matched before measuring.", valueName: "count")) var matched = 2_000
    @Option(help: ArgumentHelp("Page requests measured.", valueName: "count")) var requests = 200
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (100...2_000_000).contains(products) else { throw ValidationError("--products must be from 100 to 2000000, got \(products)") }
        guard (100...1_000_000).contains(demands) else { throw ValidationError("--demands must be from 100 to 1000000, got \(demands)") }
        guard (0...demands).contains(matched) else { throw ValidationError("--matched must be from 0 to --demands, got \(matched)") }
        guard (10...100_000).contains(requests) else { throw ValidationError("--requests must be from 10 to 100000, got \(requests)") }
    }

    func run() async throws {
        log.bootstrap()
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let options = ConsoleBenchmark.Options(databaseURL: database.resolved, products: products, demands: demands, matched: matched, requests: requests,
                                               executable: executable)
        for line in try await ConsoleBenchmark(options: options, logger: Logger(label: "pdx.bench")).run(say: say) { say(line) }
    }
}
