import Foundation
import LocalPostgres
public import Logging
import Market
import MarketStore
import Migrations
import PDXCommandLine
import Postgres

/// `pdx bench api`: the HTTP API under load from wrk, beside pgbench on the same machine in the same run (`-S`
/// for reads, its TPC-B-like script for the POST).
/// A `pdx serve` process (rate limit off) answers: GET one listed product by id (random among the
/// catalogue), POST a demand that opens at once (its match job enqueued in the same transaction), both at
/// peak and at half of peak; the server's peak resident memory is read from /proc at the end.
public struct APIBenchmark: Sendable {
    public struct Options: Sendable {
        public var databaseURL: String?
        /// Listed products to seed when the database has none.
        public var products: Int
        public var seconds: Int
        public var runs: Int
        /// wrk connections at peak, and pgbench clients.
        public var connections: Int
        /// `pdx serve --max-connections`.
        public var serverConnections: Int
        /// `pdx serve --catalogue-cache`: listed products kept in memory (0: none).
        public var catalogueCache: Int
        public var executable: String

        public init(databaseURL: String?, products: Int = 10_000, seconds: Int = 10, runs: Int = 3, connections: Int = 32,
                    serverConnections: Int = 16, catalogueCache: Int = 50_000, executable: String) {
            self.catalogueCache = catalogueCache
            self.databaseURL = databaseURL
            self.products = products
            self.seconds = seconds
            self.runs = runs
            self.connections = connections
            self.serverConnections = serverConnections
            self.executable = executable
        }
    }

    public let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// One wrk run: its rate, latency percentiles (ms) and responses that were not 2xx.
    struct Load {
        var rate: Double
        var p50: Double
        var p99: Double
        var failed: Int
    }

    public func run(say: @Sendable (String) -> Void) async throws -> [String] {
        let wrk = try Self.find("wrk", hint: "apt-get install wrk")
        let pgbench = try Self.find("pgbench", hint: "apt-get install postgresql")
        return try await withBenchmarkDatabase(options.databaseURL, name: "api", maxConnections: 2, logger: logger, say: say) { pool, url in
            try await measure(pool, url: url, wrk: wrk, pgbench: pgbench, say: say)
        }
    }

    private func measure(_ pool: PostgresPool, url: String, wrk: String, pgbench: String, say: @Sendable (String) -> Void) async throws -> [String] {
        try await pool.withConnection { connection in _ = try await Migrator.embedded(logger: logger).migrate(on: connection) }
        let store = MarketStore(pool: pool)
        if try await pool.query("SELECT count(*) FROM catalogue").scalar(Int64.self) ?? 0 < 1_000 {
            say("seeding \(options.products) listed products…")
            let progress = ProgressLine("seed")
            try await SyntheticMarket(products: options.products, demands: 0).generate(on: pool) { progress.update($0) }
            progress.finish("done")
        }
        _ = try await DemoMarket.load(into: store)
        guard let demander = try await DemoMarket.rolePlayers(in: store)?.first(where: { $0.role == .demander }) else {
            throw LocalPostgresError("the demo market's demander is missing")
        }
        let key = try await store.createAPIKey(party: demander.id, label: "pdx bench api", by: .administrator("pdx bench api")).token
        let products = try await pool.query("SELECT product_id FROM catalogue ORDER BY product_id LIMIT 10000").decode(UUID.self)
        say("preparing pgbench tables (scale 10)…")
        let initialized = try await ExternalProgram.run(pgbench, ["-i", "-q", "-s", "10", url])
        guard initialized.status == 0 else { throw LocalPostgresError("pgbench -i failed: \(initialized.output)") }
        try await pool.execute("VACUUM ANALYZE")

        let log = URL(fileURLWithPath: "/tmp/pdx-bench-api-serve-\(getpid()).log")
        let (server, port) = try await startServer(url: url, log: log)
        defer { if server.isRunning { server.terminate() } }
        let base = "http://127.0.0.1:\(port)"

        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pdx-bench-api-scripts-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let getScript = folder.appendingPathComponent("get.lua"), postScript = folder.appendingPathComponent("post.lua")
        try Self.getScript(products).write(to: getScript, atomically: true, encoding: .utf8)
        try Self.postScript(key: key).write(to: postScript, atomically: true, encoding: .utf8)

        /// pgbench's select-only script (`-S`), or its built-in TPC-B-like one: a write transaction of a few
        /// statements with a durable commit, the yardstick for a POST.
        func pgbenchRun(selectOnly: Bool = true) async throws -> Double {
            let outcome = try await ExternalProgram.run(pgbench, (selectOnly ? ["-S"] : []) + [
                "-n", "-c", "\(options.connections)", "-j", "2", "-T", "\(options.seconds)", url,
            ])
            guard outcome.status == 0, let line = outcome.output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
                  let tps = Double(line.dropFirst(6).prefix(while: { $0 != " " })) else {
                throw LocalPostgresError("pgbench failed: \(outcome.output)")
            }
            return tps
        }
        func wrkRun(_ script: URL, connections: Int, delay: Double? = nil, seconds: Int? = nil) async throws -> Load {
            var arguments = ["-t", "2", "-c", "\(connections)", "-d", "\(seconds ?? options.seconds)s", "--latency", "-s", script.path, base]
            if let delay { arguments += ["--", String(format: "%.3f", delay)] }
            let outcome = try await ExternalProgram.run(wrk, arguments)
            guard outcome.status == 0, let load = Self.parse(outcome.output) else { throw LocalPostgresError("wrk failed: \(outcome.output)") }
            return load
        }

        say("warming up…")
        _ = try await wrkRun(getScript, connections: options.connections, seconds: min(2, options.seconds))
        var pgbenchRates: [Double] = [], getRates: [Double] = [], ratios: [Double] = [], getP99: [Double] = []
        for run in 1...options.runs {
            let tps = try await pgbenchRun()
            let get = try await wrkRun(getScript, connections: options.connections)
            say(String(format: "run %d: pgbench -S %.0f tps, GET product %.0f requests/s (p99 %.2f ms, %d not 2xx)", run, tps, get.rate, get.p99, get.failed))
            pgbenchRates.append(tps)
            getRates.append(get.rate)
            getP99.append(get.p99)
            ratios.append(get.rate / tps)
            guard get.failed == 0 else { throw LocalPostgresError("GET product answered \(get.failed) requests with an error") }
        }
        var postRates: [Double] = [], tpcbRates: [Double] = [], postRatios: [Double] = []
        for run in 1...options.runs {
            let tpcb = try await pgbenchRun(selectOnly: false)
            let post = try await wrkRun(postScript, connections: options.connections)
            say(String(format: "run %d: pgbench TPC-B %.0f tps, POST demand %.0f requests/s (p99 %.2f ms, %d not 2xx)", run, tpcb, post.rate, post.p99,
                       post.failed))
            guard post.failed == 0 else { throw LocalPostgresError("POST demand answered \(post.failed) requests with an error; see \(log.path)") }
            postRates.append(post.rate)
            tpcbRates.append(tpcb)
            postRatios.append(post.rate / tpcb)
        }
        // Half of peak: each connection waits between requests so that all together ask for half the rate.
        func half(_ script: URL, peak: Double) async throws -> (asked: Double, load: Load) {
            let asked = peak / 2
            let connections = max(8, Int((asked * 0.005).rounded(.up)))  // ~5 ms between one connection's requests
            let load = try await wrkRun(script, connections: connections, delay: Double(connections) / asked * 1000)
            return (asked, load)
        }
        let getHalf = try await half(getScript, peak: median(getRates))
        let postHalf = try await half(postScript, peak: median(postRates))
        let rss = Self.peakResidentMegabytes(of: server.processIdentifier)
        server.terminate()
        server.waitUntilExit()
        let demands = try await pool.query("SELECT count(*) FROM demands WHERE demander_id = \(demander.id)").scalar(Int64.self) ?? 0
        let jobs = try await pool.query("""
            SELECT count(*) FROM pdx_jobs j JOIN demands d ON d.id = (j.args->>'demandID')::uuid
            WHERE j.kind = 'match_demand' AND d.demander_id = \(demander.id)
            """).scalar(Int64.self) ?? 0
        return [
            "pgbench -S (\(options.connections) clients): \(Int(median(pgbenchRates))) tps",
            "GET product (\(options.connections) connections, catalogue cache \(options.catalogueCache > 0 ? "on" : "off")): \(Int(median(getRates))) requests/s",
            String(format: "ratio to pgbench -S: %.2f", median(ratios)),
            String(format: "GET product p99 at peak: %.2f ms", median(getP99)),
            "POST demand (\(options.connections) connections): \(Int(median(postRates))) requests/s",
            "pgbench TPC-B (\(options.connections) clients): \(Int(median(tpcbRates))) tps",
            String(format: "POST demand ratio to pgbench TPC-B: %.2f", median(postRatios)),
            String(format: "GET product p99 at half load (%.0f requests/s asked, %.0f served): %.2f ms", getHalf.asked, getHalf.load.rate, getHalf.load.p99),
            String(format: "POST demand p99 at half load (%.0f requests/s asked, %.0f served): %.2f ms", postHalf.asked, postHalf.load.rate, postHalf.load.p99),
            String(format: "server peak RSS: %.1f MB", rss ?? -1),
            "demands posted: \(demands) demands",
            "match jobs enqueued with them: \(jobs) jobs",
        ]
    }

    /// Starts `pdx serve` on a port below the kernel's ephemeral range (where outgoing connections take
    /// theirs), trying another if the one drawn is taken.
    private func startServer(url: String, log: URL) async throws -> (ChildProcess, Int) {
        try await Self.startServer(executable: options.executable, log: log, arguments: [
            "serve", "--database-url", url, "--max-connections", "\(options.serverConnections)", "--rate-limit", "0",
            "--catalogue-cache", "\(options.catalogueCache)", "--log-level", "error",
        ])
    }

    /// Starts `pdx serve` with `arguments` and `--port` (drawn again if taken); returns when it is ready.
    static func startServer(executable: String, log: URL, arguments: [String]) async throws -> (ChildProcess, Int) {
        var attempt = 0
        while true {
            attempt += 1
            let port = Int.random(in: 20_000...32_000)
            let server = ChildProcess()
            server.executableURL = URL(fileURLWithPath: executable)
            server.arguments = arguments + ["--port", "\(port)"]
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            server.standardOutput = handle
            server.standardError = handle
            try server.run()
            do {
                try await waitUntilReady("http://127.0.0.1:\(port)", server: server, log: log)
                return (server, port)
            } catch {
                if server.isRunning { server.terminate() }
                server.waitUntilExit()
                let said = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                guard attempt < 5, said.contains("Address already in use") else { throw error }
            }
        }
    }

    static func waitUntilReady(_ base: String, server: ChildProcess, log: URL) async throws {
        let curl = try Self.find("curl", hint: "apt-get install curl")
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard server.isRunning else { throw LocalPostgresError("pdx serve exited; see \(log.path)") }
            if try await ExternalProgram.run(curl, ["-fsS", "--max-time", "2", "\(base)/readyz"]).status == 0 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw LocalPostgresError("pdx serve did not become ready within 60 s; see \(log.path)")
    }

    /// GET a random listed product; with an argument, each connection waits about that many ms between
    /// requests (uniformly 0 to twice it, so that connections do not fall into step).
    static func getScript(_ products: [UUID]) -> String {
        """
        local paths = {\(products.map { "\"/v1/products/\($0.uuidString.lowercased())\"" }.joined(separator: ","))}
        \(pacing)
        function request() return wrk.format("GET", paths[math.random(#paths)]) end

        """
    }

    /// POST a demand that opens at once: 25 kinds (five sectors of the demo market in five provinces), so
    /// that they do not all share one match key.
    static func postScript(key: String) -> String {
        let expires = ISO8601DateFormatter().string(from: Date() + 30 * 86_400)
        let sectors = [("commerce", "credit_risk"), ("transport", "logistics"), ("energy", "energy_saving"), ("meteorology", "disaster_relief"),
                       ("health", "public_health")]
        let bodies = sectors.flatMap { sector, scenario in
            ["310000", "110000", "440000", "320000", "330000"].map { region in
                #"{"title":"数据需求 benchmark demand","sector":"\#(sector)","scenario":"\#(scenario)","purpose":"industry_development","regions":["\#(region)"],"fields_wanted":["credit_score"],"quantity":100,"budget_fen":100000,"delivery_modes":["api"],"expires_at":"\#(expires)","open":true}"#
            }
        }
        return """
        local bodies = {\(bodies.map { "'\($0)'" }.joined(separator: ","))}
        local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer \(key)"}
        \(pacing)
        function request() return wrk.format("POST", "/v1/demands", headers, bodies[math.random(#bodies)]) end

        """
    }

    static let pacing = """
        local pause = 0
        function init(args)
            pause = tonumber(args[1] or "0")
            math.randomseed(os.time() + math.floor(os.clock() * 1000000))
        end
        function delay() if pause > 0 then return math.floor(math.random() * 2 * pause + 0.5) end return 0 end
        """

    /// Reads wrk's `--latency` report.
    static func parse(_ output: String) -> Load? {
        var rate: Double?, p50: Double?, p99: Double?, failed = 0
        for line in output.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.hasPrefix("Requests/sec:"), parts.count == 2 { rate = Double(parts[1]) }
            if line.hasPrefix("50%"), parts.count == 2 { p50 = milliseconds(String(parts[1])) }
            if line.hasPrefix("99%"), parts.count == 2 { p99 = milliseconds(String(parts[1])) }
            if line.hasPrefix("Non-2xx or 3xx responses:") { failed += Int(parts.last ?? "") ?? 0 }
            if line.hasPrefix("Socket errors:") {
                failed += line.split(separator: ",").compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
            }
        }
        guard let rate, let p50, let p99 else { return nil }
        return Load(rate: rate, p50: p50, p99: p99, failed: failed)
    }

    /// "1.23ms", "456.00us", "1.02s" in milliseconds.
    static func milliseconds(_ text: String) -> Double? {
        for (unit, factor) in [("us", 0.001), ("ms", 1.0), ("m", 60_000.0), ("s", 1_000.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * factor }
        }
        return nil
    }

    /// VmHWM of a process, in MB.
    static func peakResidentMegabytes(of pid: Int32) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return nil }
        return kilobytes / 1024
    }

    static func find(_ program: String, hint: String) throws -> String {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
            + ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]
        for folder in folders where FileManager.default.isExecutableFile(atPath: "\(folder)/\(program)") { return "\(folder)/\(program)" }
        throw LocalPostgresError("\(program) is not installed (\(hint))")
    }

    func median(_ values: [Double]) -> Double { Self.median(values) }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
