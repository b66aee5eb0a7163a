import Foundation
import LocalPostgres
public import Logging
import Market
import MarketStore
import Migrations
import PDXCommandLine
import PDXTokens
import Postgres

/// `pdx bench usage`: what delivery costs. Usage events ingested through `POST /v1/usage` (batches of
/// 1,000, each event id new, counted once), `POST /v1/entitlements/verify` at peak beside `pgbench -S` and
/// at half of peak, tokens verified offline in Swift on one core, and closing a month of `--entitlements`
/// entitlements with usage.
public struct UsageBenchmark: Sendable {
    public struct Options: Sendable {
        public var databaseURL: String?
        /// Entitlements with usage in the month closed.
        public var entitlements: Int
        public var seconds: Int
        public var connections: Int
        public var serverConnections: Int
        public var executable: String

        public init(databaseURL: String?, entitlements: Int = 100_000, seconds: Int = 10, connections: Int = 32, serverConnections: Int = 16,
                    executable: String) {
            self.databaseURL = databaseURL
            self.entitlements = entitlements
            self.seconds = seconds
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

    public func run(say: @Sendable (String) -> Void) async throws -> [String] {
        let wrk = try APIBenchmark.find("wrk", hint: "apt-get install wrk")
        let pgbench = try APIBenchmark.find("pgbench", hint: "apt-get install postgresql")
        return try await withBenchmarkDatabase(options.databaseURL, name: "usage", maxConnections: 4, logger: logger, say: say) { pool, url in
            try await measure(pool, url: url, wrk: wrk, pgbench: pgbench, say: say)
        }
    }

    private func measure(_ pool: PostgresPool, url: String, wrk: String, pgbench: String, say: @Sendable (String) -> Void) async throws -> [String] {
        try await pool.withConnection { connection in _ = try await Migrator.embedded(logger: logger).migrate(on: connection) }
        let store = MarketStore(pool: pool)
        let month = BillingPeriod(containing: try await store.now()).previous
        say("seeding \(options.entitlements) entitlements with usage in \(month)…")
        let seeded = try await seed(store, pool: pool, month: month)
        say("preparing pgbench tables (scale 10)…")
        let initialized = try await ExternalProgram.run(pgbench, ["-i", "-q", "-s", "10", url])
        guard initialized.status == 0 else { throw LocalPostgresError("pgbench -i failed: \(initialized.output)") }
        try await pool.execute("VACUUM ANALYZE")

        // Offline verification in this process, on one core (a loop on one thread).
        let keys = try await store.publishedKeys()
        let tokens = seeded.tokens
        func rate(_ body: () throws -> Void) rethrows -> Double {
            let started = ContinuousClock.now
            var count = 0
            while ContinuousClock.now - started < .seconds(3) {
                for _ in 0..<1_000 { try body() }
                count += 1_000
            }
            let elapsed = ContinuousClock.now - started
            return Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        let verifier = TokenVerifier(keys: keys)
        var index = 0
        let reused = try rate { index &+= 1; _ = try verifier.verify(tokens[index % tokens.count]) }
        let cold = try rate { index &+= 1; _ = try verifier.verifySignature(tokens[index % tokens.count]) }
        say(String(format: "offline: %.0f verifications/s over %d tokens each reused, %.0f signature checks/s", reused, tokens.count, cold))

        let log = URL(fileURLWithPath: "/tmp/pdx-bench-usage-serve-\(getpid()).log")
        let (server, port) = try await APIBenchmark.startServer(executable: options.executable, log: log, arguments: [
            "serve", "--database-url", url, "--max-connections", "\(options.serverConnections)", "--rate-limit", "0", "--log-level", "error",
        ])
        defer { if server.isRunning { server.terminate() } }
        let base = "http://127.0.0.1:\(port)"
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pdx-bench-usage-scripts-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let usageScript = folder.appendingPathComponent("usage.lua"), verifyScript = folder.appendingPathComponent("verify.lua")
        try Self.usageScript(key: seeded.sellerKey, entitlements: seeded.metered).write(to: usageScript, atomically: true, encoding: .utf8)
        try Self.verifyScript(key: seeded.sellerKey, tokens: tokens).write(to: verifyScript, atomically: true, encoding: .utf8)
        func wrkRun(_ script: URL, connections: Int, delay: Double? = nil) async throws -> APIBenchmark.Load {
            var arguments = ["-t", "2", "-c", "\(connections)", "-d", "\(options.seconds)s", "--latency", "-s", script.path, base]
            if let delay { arguments += ["--", String(format: "%.3f", delay)] }
            let outcome = try await ExternalProgram.run(wrk, arguments)
            guard outcome.status == 0, let load = APIBenchmark.parse(outcome.output) else { throw LocalPostgresError("wrk failed: \(outcome.output)") }
            guard load.failed == 0 else { throw LocalPostgresError("\(script.lastPathComponent): \(load.failed) requests failed; see \(log.path)") }
            return load
        }

        // Ingestion: every event id new; the database's count afterwards is what was counted.
        let before = try await pool.query("SELECT count(*) FROM usage_events").scalar(Int64.self) ?? 0
        let ingest = try await wrkRun(usageScript, connections: 4)
        let counted = (try await pool.query("SELECT count(*) FROM usage_events").scalar(Int64.self) ?? 0) - before
        let batches = Int64((ingest.rate * Double(options.seconds)).rounded())
        say(String(format: "usage: %.1f batches/s of 1,000 (p99 %.1f ms), %d events counted", ingest.rate, ingest.p99, counted))

        // Verification at peak beside pgbench -S, then at half of peak.
        _ = try await wrkRun(verifyScript, connections: options.connections)  // warm the caches
        let pgbenchOutcome = try await ExternalProgram.run(pgbench, ["-n", "-S", "-c", "\(options.connections)", "-j", "2", "-T", "\(options.seconds)", url])
        guard pgbenchOutcome.status == 0, let line = pgbenchOutcome.output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let tps = Double(line.dropFirst(6).prefix(while: { $0 != " " })) else { throw LocalPostgresError("pgbench failed: \(pgbenchOutcome.output)") }
        let peak = try await wrkRun(verifyScript, connections: options.connections)
        let asked = peak.rate / 2
        let halfConnections = max(8, Int((asked * 0.005).rounded(.up)))
        let half = try await wrkRun(verifyScript, connections: halfConnections, delay: Double(halfConnections) / asked * 1000)
        say(String(format: "verify: %.0f requests/s at peak (p99 %.2f ms), pgbench -S %.0f tps", peak.rate, peak.p99, tps))
        server.terminate()
        server.waitUntilExit()

        // Closing the month.
        let started = ContinuousClock.now
        let closes = try await store.closePeriods(through: month, by: "pdx bench usage")
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let issued = closes.map(\.issued).reduce(0, +)
        let balanced = try await store.settlementReport(month).balanced
        guard issued >= options.entitlements, balanced else {
            throw LocalPostgresError("the close issued \(issued) statements for \(options.entitlements) entitlements (ledger balanced: \(balanced))")
        }
        return [
            String(format: "usage ingested: %.0f events/s", Double(counted) / Double(options.seconds)),
            "usage events counted: \(counted) events (new ids, each once; wrk saw about \(batches) batches of 1,000 answered)",
            String(format: "usage batch p99: %.2f ms", ingest.p99),
            String(format: "verify requests: %.0f per second", peak.rate),
            String(format: "verify ratio to pgbench -S: %.2f", peak.rate / tps),
            String(format: "verify p99 at half load: %.2f ms", half.p99),
            String(format: "verify served at half load: %.0f requests/s (%.0f asked)", half.rate, asked),
            String(format: "pgbench -S: %.0f tps", tps),
            String(format: "token verifications: %.0f per second", reused),
            String(format: "token signature checks: %.0f per second", cold),
            String(format: "period closed: %.1f s", seconds),
            "statements issued: \(issued) statements",
        ]
    }

    struct Seeded {
        var sellerKey: String
        /// Entitlements whose usage the ingestion reports (granted far more than it can use).
        var metered: [UUID]
        var tokens: [String]
    }

    /// An agency, an operator with a grant and a per-call product, 100 buyers, and `entitlements` delivered
    /// orders started before `month` with usage on a few days of it (written directly: the ingestion is
    /// measured apart).
    private func seed(_ store: MarketStore, pool: PostgresPool, month: BillingPeriod) async throws -> Seeded {
        let admin = Actor.administrator("pdx bench usage")
        func party(_ kind: PartyKind, _ name: String) async throws -> Party { try await benchmarkParty(store, kind, name, by: admin) }
        let agency = try await party(.agency, "上海市大数据中心")
        let seller = try await party(.operator, "数据运营甲")
        let resource = try await store.registerResource(NewResource(title: "道路流量", sector: "transport", regionCode: "310000", grade: .general),
                                                        agency: agency.id, by: admin)
        var grant = Authorization(agencyID: agency.id, operatorID: seller.id, sectors: ["transport"], regions: [try RegionCode("310000")],
                                  scenarios: ["logistics"], mode: .multi, validFrom: month.start - 86_400 * 30, validUntil: Date() + 86_400 * 300)
        grant.agencySharePermille = 100
        let granted = try await store.grant(grant, by: admin)
        let version = ProductVersion(title: "路况指数 traffic index", sector: "transport", regions: [try RegionCode("310000")], scenarios: ["logistics"],
                                     fields: ["road_id", "speed"], deliveryModes: [.api], chargeUnit: .call, listPriceFen: 5,
                                     sourceResourceIDs: [resource.id])
        let product = try await store.createProduct(version, operator: seller.id, authorization: granted.id, by: .party(seller.id))
        try await store.list(product.id, by: .party(seller.id))
        let bands = try await store.addPricingRule(.tiers([.init(from: 1, upTo: 10_000, unitPriceFen: 5), .init(from: 10_000, upTo: nil, unitPriceFen: 3)]),
                                                   scope: .init(sector: "transport"), reviewBy: Date() + 86_400 * 365, author: "pdx bench usage", reason: "bands")
        // As if announced long before the month billed (a new rule waits for its notice): the append-only trigger is set aside for this
        // one update of the benchmark's rule.
        try await pool.withTransaction { connection in
            try await connection.execute("ALTER TABLE pricing_rule_versions DISABLE TRIGGER pricing_rule_versions_append_only")
            try await connection.execute("UPDATE pricing_rule_versions SET effective_at = \(month.start - 86_400 * 60) WHERE rule_id = \(bands.id)")
            try await connection.execute("ALTER TABLE pricing_rule_versions ENABLE TRIGGER pricing_rule_versions_append_only")
        }
        var demanders: [UUID] = []
        for index in 0..<100 { demanders.append(try await party(.demander, "买方 buyer \(index)").id) }
        let buyers = demanders
        let progress = ProgressLine("seed")
        let total = options.entitlements + 1_000
        let ids = try await store.deliverSyntheticOrders(product: product.id, buyers: buyers, count: total, quantity: 1_000_000_000_000,
                                                         startsAt: month.start - 86_400 * 2) { progress.update("\($0) of \(total) entitlements") }
        progress.finish("done")
        guard ids.count == total else { throw LocalPostgresError("seeded \(ids.count) entitlements, not \(total)") }
        // The first `entitlements` get usage in the month; the rest are the ingestion's.
        let billed = Array(ids.prefix(options.entitlements)), metered = Array(ids.suffix(1_000))
        try await store.writeSyntheticUsage(billed, in: month, every: 9, maximum: 5_000)
        let key = try await store.createAPIKey(party: seller.id, label: "pdx bench usage", by: admin).token
        var tokens: [String] = []
        let buyerOf = Dictionary(uniqueKeysWithValues: try await pool.query("SELECT id, buyer_id FROM entitlements WHERE id = ANY(\(metered))")
            .decode(UUID.self, UUID.self).map { ($0, $1) })
        for id in metered {
            tokens.append(try await store.issueToken(entitlement: id, buyer: buyerOf[id]!, lifetime: EntitlementToken.maximumLifetime, by: admin).token)
        }
        return Seeded(sellerKey: key, metered: metered, tokens: tokens)
    }

    /// A batch of 1,000 new events per request: ids unique per thread and request, spread over ten
    /// entitlements drawn at random (a gateway's flush covers its own clients), occurring now.
    static func usageScript(key: String, entitlements: [UUID]) -> String {
        let now = ISO8601DateFormatter().string(from: Date())
        return """
        local ids = {\(entitlements.map { "\"\($0.uuidString.lowercased())\"" }.joined(separator: ","))}
        local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer \(key)"}
        local threads = 0
        function setup(thread) threads = threads + 1; thread:set("tag", tostring(threads) .. "-" .. tostring(os.time())) end
        local counter = 0
        function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end
        function request()
            counter = counter + 1
            local chosen = {}
            for k = 1, 10 do chosen[k] = ids[math.random(#ids)] end
            local parts = {}
            for i = 1, 1000 do
                parts[i] = '{"event_id":"' .. tag .. "-" .. counter .. "-" .. i .. '","entitlement_id":"' .. chosen[1 + i % 10] .. '","units":1,"occurred_at":"\(now)"}'
            end
            return wrk.format("POST", "/v1/usage", headers, '{"events":[' .. table.concat(parts, ",") .. ']}')
        end

        """
    }

    /// A gateway asking about a token of one of the seller's entitlements.
    static func verifyScript(key: String, tokens: [String]) -> String {
        """
        local bodies = {\(tokens.map { "'{\"token\":\"\($0)\"}'" }.joined(separator: ","))}
        local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer \(key)"}
        \(APIBenchmark.pacing)
        function request() return wrk.format("POST", "/v1/entitlements/verify", headers, bodies[math.random(#bodies)]) end

        """
    }
}
