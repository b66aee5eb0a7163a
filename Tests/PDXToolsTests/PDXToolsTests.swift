import Foundation
import LocalPostgres
import Logging
@testable import PDXBenchmarks
import PDXCommandLine
@testable import PDXDev
import PDXTestSupport
import Postgres
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DevEnvironmentTests {
    @Test func usesAndMigratesTheDatabaseItIsGiven() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let url = TestDatabase.connectionString(configuration)
            let environment = DevEnvironment(
                options: .init(databaseURL: url, folder: URL(fileURLWithPath: "/nonexistent")), logger: .init(label: "test"))
            let first = try await environment.prepare()
            #expect(first.cluster == nil)
            #expect(first.startedCluster == false)
            #expect(first.applied.count == first.totalMigrations)
            #expect(first.serverVersion >= 150_000)
            let second = try await environment.prepare()
            #expect(second.applied.isEmpty)
        }
    }

    @Test func privateClusterIsCreatedResumedAndReset() async throws {
        let folder = URL(fileURLWithPath: "/tmp/pdx-devenv-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = DevEnvironment(options: .init(databaseURL: nil, folder: folder), logger: .init(label: "test"))
        let first = try await environment.prepare()
        let cluster = try #require(first.cluster)
        try cluster.removeWhenProcessExits(pid: getpid())
        #expect(first.startedCluster)
        #expect(first.configuration.connectionString.contains("dbname='pdx'"))
        try await withConnection(first.configuration) { connection in
            try await connection.execute("CREATE TABLE keepsake (n int)")
        }
        // Running again while it runs: found running, nothing applied, data kept, not ours to stop.
        let again = try await environment.prepare()
        #expect(again.startedCluster == false)
        #expect(again.applied.isEmpty)
        try await cluster.stop()
        // --reset starts over.
        let reset = DevEnvironment(options: .init(databaseURL: nil, folder: folder, reset: true), logger: .init(label: "test"))
        let fresh = try await reset.prepare()
        #expect(fresh.startedCluster)
        #expect(fresh.applied.count == fresh.totalMigrations)
        let gone = try await withConnection(fresh.configuration) { connection in
            try await connection.query("SELECT to_regclass('keepsake') IS NULL").scalar(Bool.self)
        }
        #expect(gone == true)
        try await cluster.destroy()
    }

    /// A script waits for "pdx dev is ready" and calls the API at once: the line comes only once the
    /// server accepts connections (checked from inside the callback that prints it), and never when the
    /// API cannot listen.
    @Test func pdxDevSaysReadyOnlyOnceItsAPIAcceptsConnections() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let folder = URL(fileURLWithPath: "/tmp/pdx-devready-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: folder) }
            let options = DevEnvironment.Options(databaseURL: TestDatabase.connectionString(configuration), folder: folder)
            let port = try freePort()
            let connectedWhenReady = Mutex<Bool?>(nil)
            let service = DevService(environment: DevEnvironment(options: options, logger: .init(label: "test")),
                                     serving: .init(port: port, workers: 0), logger: .init(label: "test"), say: { line in
                if line.hasPrefix("pdx dev is ready") { connectedWhenReady.withLock { $0 = canConnect(port: port) } }
            })
            let running = Task { try await service.run() }
            defer { running.cancel() }
            // A bound against "never says it is ready", not a latency figure: beside the whole suite on two cores a
            // start once took more than 90 s.
            try await eventually(within: .seconds(300)) { connectedWhenReady.withLock { $0 } != nil }
            #expect(connectedWhenReady.withLock { $0 } == true, "the API accepts connections when pdx dev says it is ready")

            // A port taken by someone else: pdx dev fails, and never says it is ready.
            let taken = try listeningSocket()
            defer { close(taken.descriptor) }
            let saidReady = Mutex(false)
            let blocked = DevService(environment: DevEnvironment(options: options, logger: .init(label: "test")),
                                     serving: .init(port: taken.port, workers: 0), logger: .init(label: "test"), say: { line in
                if line.hasPrefix("pdx dev is ready") { saidReady.withLock { $0 = true } }
            })
            await #expect(throws: (any Error).self) { try await blocked.run() }
            #expect(!saidReady.withLock { $0 }, "pdx dev does not say it is ready when its API cannot listen")
        }
    }

    @Test func versionsReadLikePostgresPrintsThem() {
        #expect(describePostgresVersion(150_018) == "15.18")
        #expect(describePostgresVersion(90_624) == "9.6.24")
    }
}

/// The suites that start processes and load the machine (benchmarks with wrk, pgbench and worker
/// processes; `pdx dev` and `pdx demo` with their own PostgreSQL): one at a time, so that each still
/// measures something on two cores and the rest of the suite (leases of a few seconds) is not starved.
@Suite(.serialized) struct HeavyProcesses {}

extension HeavyProcesses {
    @Suite struct BenchmarkTests {
        @Test func comparisonReportsEveryFigureOnItsOwnLine() async throws {
            try await TestDatabase.withDatabase { configuration throws in
                let url = TestDatabase.connectionString(configuration)
                let benchmark = PostgresBenchmark(
                    options: .init(databaseURL: url, clients: [1, 2], duration: .seconds(3), runs: 1), logger: .init(label: "test"))
                let figures = try await benchmark.run(say: { _ in })
                #expect(figures.map(\.clients) == [1, 2])
                for figure in figures {
                    // Rates, not targets: this runs in debug beside the rest of the suite (three seconds a side,
                    // so that a busy machine still completes some of each).
                    #expect(figure.pdx > 0)
                    #expect(figure.pgbench > 0)
                    #expect(figure.pdxPoolPerQuery > 0)
                    #expect(abs(figure.ratio - figure.pdx / figure.pgbench) < 0.001)
                    // One run: the median of one ratio is that run's pool rate over its pgbench rate.
                    #expect(abs(figure.poolRatio - figure.pdxPoolPerQuery / figure.pgbench) < 0.001)
                }
                let lines = PostgresBenchmark.summary(figures)
                #expect(lines.count == 10)
                #expect(lines.contains { $0.hasPrefix("ratio to pgbench (1 client): ") })
                #expect(lines.contains { $0.hasPrefix("pool ratio to pgbench (2 clients): ") })
                for line in lines {
                    let parts = line.split(separator: ": ")
                    #expect(parts.count == 2, "\(line)")
                    #expect(Double(parts[1].split(separator: " ")[0]) != nil, "\(line)")
                }
            }
        }
    }

    @Suite struct QueueBenchmarkTests {
        @Test func everyModeReportsItsFiguresOnTheirOwnLines() async throws {
            try await TestDatabase.withDatabase { configuration throws in
                var options = QueueBenchmark.Options(
                    databaseURL: TestDatabase.connectionString(configuration), runs: 1, jobs: 1_000, workers: 1,
                    concurrency: 200, claimBatch: 100, steadyRate: 1_000, steadyDuration: .seconds(3), latencySamples: 10)
                options.claimers = 2
                let progress = Mutex<[String]>([])
                let lines = try await QueueBenchmark(options: options, logger: .init(label: "test"))
                    .run(say: { line in progress.withLock { $0.append(line) } })
                let figures = Dictionary(uniqueKeysWithValues: lines.map { line -> (String, Double) in
                    let parts = line.split(separator: ": ")
                    #expect(parts.count == 2, "\(line)")
                    return (String(parts[0]), Double(parts.last!.split(separator: " ")[0]) ?? -1)
                })
                #expect(Set(figures.keys) == [
                    "enqueue", "burn-down", "steady", "steady backlog max", "single", "single, completions grouped by up to 16",
                    "single pgbench baseline", "single ratio to pgbench", "latency p50", "latency p99",
                ])
                for name in ["enqueue", "burn-down", "single", "single pgbench baseline"] { #expect(figures[name]! > 0, "\(name)") }
                // Steady can only complete what was enqueued: at most about its rate (three seconds, so that a
                // suite busy on two cores still completes some).
                #expect(figures["steady"]! > 0 && figures["steady"]! <= 1_100)
                #expect(figures["latency p50"]! > 0 && figures["latency p50"]! <= figures["latency p99"]!)
                #expect(abs(figures["single ratio to pgbench"]! - figures["single"]! / figures["single pgbench baseline"]!) < 0.01)
                #expect(progress.withLock { $0 }.contains { $0.hasPrefix("run 1 burn-down: ") })
            }
        }
    }

    @Suite struct MatchBenchmarkTests {
        /// A small run of every step, worker processes included: each figure on its own line, recall and the
        /// hard-rule check meaningful.
        @Test func everyStepReportsItsFiguresOnTheirOwnLines() async throws {
            try await TestDatabase.withDatabase { configuration throws in
                let options = MatchBenchmark.Options(databaseURL: TestDatabase.connectionString(configuration), products: 400, demands: 100,
                                                     planted: 10, productSamples: 10, burst: 60, workers: 2, concurrency: 4,
                                                     executable: try pdxExecutable().path)
                let lines = try await MatchBenchmark(options: options, logger: .init(label: "test")).run(say: { _ in })
                var figures: [String: Double] = [:]
                for line in lines {
                    let parts = line.split(separator: ": ")
                    #expect(parts.count == 2, "\(line)")
                    figures[String(parts[0])] = Double(parts.last?.split(separator: " ").first ?? "") ?? -1
                }
                #expect(Set(figures.keys) == Set<String>([
                    "demand match p50", "demand match p99", "demand match candidates p50", "recall@10", "product match p50", "product match p99",
                    "product proposals per product", "burst matched (60 demands, 2 workers)", "burst rate", "burst posting",
                    "burst demands with proposals", "burst jobs retried or failed", "hard-rule violations", "worker peak RSS",
                    "catalogue load", "catalogue in memory", "catalogue staleness p50", "catalogue staleness p99",
                    "product match p50 (unsettled)", "product match p99 (unsettled)", "product proposals per product (unsettled)",
                ]).union(figures.keys.filter { $0.hasPrefix("settling (") }))
                #expect(figures.keys.contains { $0.hasPrefix("settling (") }, "the market is settled before the settled figures")
                #expect((figures["worker peak RSS"] ?? 0) > 1, "read from /proc")
                #expect((figures["catalogue in memory"] ?? 0) >= 30, "the planted products at least")
                #expect((figures["catalogue staleness p50"] ?? 0) > 0)
                #expect((figures["demand match p50"] ?? 0) > 0 && (figures["demand match p50"] ?? 0) <= (figures["demand match p99"] ?? 0))
                #expect((figures["recall@10"] ?? 0) >= 0.9, "the planted products are found")
                #expect(figures["hard-rule violations"] == 0)
                #expect(figures["burst jobs retried or failed"] == 0)
                #expect((figures["burst demands with proposals"] ?? 0) > 0)
            }
        }
    }

    @Suite struct APIBenchmarkTests {
        /// A short run against a real `pdx serve`, wrk and pgbench: every figure on its own line, no failed
        /// request, and every posted demand's match job enqueued with it.
        @Test func aShortRunReportsEveryFigure() async throws {
            try await TestDatabase.withDatabase { configuration throws in
                let options = APIBenchmark.Options(databaseURL: TestDatabase.connectionString(configuration), products: 1_000, seconds: 1, runs: 1,
                                                   connections: 2, serverConnections: 2, executable: try pdxExecutable().path)
                let lines = try await APIBenchmark(options: options, logger: .init(label: "test")).run(say: { _ in })
                var figures: [String: Double] = [:]
                for line in lines {
                    let parts = line.split(separator: ": ")
                    #expect(parts.count == 2, "\(line)")
                    figures[String(parts[0].prefix(while: { $0 != "(" }).trimmingCharacters(in: .whitespaces))] =
                        Double(parts.last?.split(separator: " ").first ?? "") ?? -1
                }
                #expect(Set(figures.keys) == [
                    "pgbench -S", "GET product", "ratio to pgbench -S", "GET product p99 at peak", "POST demand", "GET product p99 at half load",
                    "POST demand p99 at half load", "server peak RSS", "demands posted", "match jobs enqueued with them",
                    "pgbench TPC-B", "POST demand ratio to pgbench TPC-B",
                ])
                #expect(abs(figures["POST demand ratio to pgbench TPC-B"]! - figures["POST demand"]! / figures["pgbench TPC-B"]!) < 0.02)
                #expect(figures["GET product"]! > 0 && figures["POST demand"]! > 0 && figures["pgbench -S"]! > 0)
                #expect(abs(figures["ratio to pgbench -S"]! - figures["GET product"]! / figures["pgbench -S"]!) < 0.02)
                #expect(figures["server peak RSS"]! > 1)
                #expect(figures["demands posted"]! > 0 && figures["demands posted"] == figures["match jobs enqueued with them"])
            }
        }

        @Test func wrkReportsAreRead() throws {
            let report = """
                Running 1s test @ http://127.0.0.1:8080
                  2 threads and 4 connections
                  Thread Stats   Avg      Stdev     Max   +/- Stdev
                    Latency   512.00us  100.00us   2.00ms   90.00%
                  Latency Distribution
                     50%  450.00us
                     75%  600.00us
                     90%  800.00us
                     99%    1.50ms
                  8000 requests in 1.00s, 2.00MB read
                  Non-2xx or 3xx responses: 3
                  Socket errors: connect 0, read 1, write 0, timeout 2
                Requests/sec:   7998.50
                Transfer/sec:      2.00MB
                """
            let load = try #require(APIBenchmark.parse(report))
            #expect(load.rate == 7998.5 && load.p50 == 0.45 && load.p99 == 1.5 && load.failed == 6)
            #expect(APIBenchmark.milliseconds("1.02s") == 1020 && APIBenchmark.milliseconds("2.5m") == 150_000)
        }
    }
}

/// Polls `condition` until it holds, failing after `limit`.
func eventually(within limit: Duration, _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("a condition did not hold within \(limit)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// A socket listening on a port of 127.0.0.1 the system chose.
func listeningSocket() throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket() failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(descriptor, 16) == 0 else {
        close(descriptor)
        throw TestFailure("bind or listen failed")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// A port of 127.0.0.1 that was free a moment ago.
func freePort() throws -> Int {
    let (descriptor, port) = try listeningSocket()
    close(descriptor)
    return port
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted now.
func canConnect(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
