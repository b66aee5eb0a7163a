import AsyncHTTPClient
import Foundation
import LocalPostgres
public import Logging
import Market
import MarketStore
import NIOCore
import NIOHTTP1
import Migrations
import PDXCommandLine
import Postgres

/// `pdx bench console`: the console's overview page (`GET /console`, an administrator signed in) from a
/// `pdx serve` over a market of `--products` products and `--demands` demands, `--matched` of them matched,
/// timed end to end; with the time the store's overview query takes alone.
public struct ConsoleBenchmark: Sendable {
    public struct Options: Sendable {
        public var databaseURL: String?
        public var products: Int
        public var demands: Int
        public var matched: Int
        public var requests: Int
        public var executable: String

        public init(databaseURL: String?, products: Int = 100_000, demands: Int = 20_000, matched: Int = 2_000, requests: Int = 200, executable: String) {
            self.databaseURL = databaseURL
            self.products = products
            self.demands = demands
            self.matched = matched
            self.requests = requests
            self.executable = executable
        }
    }

    public let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    public func run(say: @Sendable (String) -> Void) async throws -> [String] {
        try await withBenchmarkDatabase(options.databaseURL, name: "console", maxConnections: 4, logger: logger, say: say) { pool, url in
            try await measure(pool, url: url, say: say)
        }
    }

    private func measure(_ pool: PostgresPool, url: String, say: @Sendable (String) -> Void) async throws -> [String] {
        try await pool.withConnection { connection in _ = try await Migrator.embedded(logger: logger).migrate(on: connection) }
        let store = MarketStore(pool: pool)
        let progress = ProgressLine("market")
        try await SyntheticMarket(products: options.products, demands: options.demands, seed: 19).generate(on: pool) { progress.update($0) }
        progress.finish("\(options.products) products, \(options.demands) demands")
        // Some demands matched, as workers would have matched them (four at a time).
        let open = try await pool.query("SELECT id FROM demands WHERE state = 'open' ORDER BY id LIMIT \(options.matched)").map { try $0.decode(UUID.self) }
        let matching = ProgressLine("matching")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<4 {
                group.addTask {
                    for (index, id) in open.enumerated() where index % 4 == part { _ = try await store.matchDemand(id) }
                }
            }
            try await group.waitForAll()
        }
        let proposals = try await pool.query("SELECT count(*) FROM matches").scalar(Int64.self) ?? 0
        matching.finish("\(open.count) demands, \(proposals) proposals")
        _ = try await pool.query("ANALYZE")

        // The query alone, in process.
        var query: [Double] = []
        for _ in 0..<20 {
            let started = ContinuousClock.now
            _ = try await store.marketOverview(days: 30)
            query.append(milliseconds(ContinuousClock.now - started))
        }

        let key = try await store.createAdminKey(name: "bench", by: .administrator("pdx bench console")).token
        guard case .success(let session) = try await store.openConsoleSession(key: key) else { throw LocalPostgresError("the bench's administrator key was refused") }
        let log = URL(fileURLWithPath: "/tmp/pdx-bench-console-\(getpid()).serve.log")
        let (server, port) = try await APIBenchmark.startServer(executable: options.executable, log: log, arguments: [
            "serve", "--database-url", url, "--rate-limit", "0", "--log-level", "error",
        ])
        defer { if server.isRunning { server.terminate() } }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/console")
        request.headers.add(name: "Cookie", value: "pdx_session=\(session.token)")
        var page: [Double] = []
        var bytes = 0
        for index in 0..<(options.requests + 10) {
            let started = ContinuousClock.now
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 16 << 20)
            let elapsed = milliseconds(ContinuousClock.now - started)
            guard response.status == .ok, body.readableBytesView.count > 1_000 else {
                throw LocalPostgresError("GET /console answered \(response.status.code); see \(log.path)")
            }
            bytes = body.readableBytes
            if index >= 10 { page.append(elapsed) }
        }
        return [
            "console market: \(options.products) products, \(options.demands) demands, \(proposals) proposals",
            "console overview p50: \(String(format: "%.1f", percentile(page, 0.50))) ms",
            "console overview p95: \(String(format: "%.1f", percentile(page, 0.95))) ms",
            "console overview p99: \(String(format: "%.1f", percentile(page, 0.99))) ms",
            "console overview query p50: \(String(format: "%.1f", percentile(query, 0.50))) ms",
            "console overview size: \(bytes / 1024) KiB",
        ]
    }
}
