import Foundation
import LocalPostgres
public import Logging
import Market
import MarketStore
import Migrations
import PDXClient
import PDXCommandLine
import Postgres
import Synchronization

/// `pdx bench sandbox`: a grouped count of distinct entities and sum over a `--rows` dataset with 10 groups,
/// end to end (POST /v1/sandbox/analyses to a `pdx serve`, run by a `pdx work`, until GET shows it done),
/// beside the bare SQL aggregate over the same table in the same run.
public struct SandboxBenchmark: Sendable {
    public struct Options: Sendable {
        public var databaseURL: String?
        public var rows: Int
        public var entities: Int
        public var analyses: Int
        public var executable: String

        public init(databaseURL: String?, rows: Int = 1_000_000, entities: Int = 100_000, analyses: Int = 30, executable: String) {
            self.databaseURL = databaseURL
            self.rows = rows
            self.entities = entities
            self.analyses = analyses
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
        try await withBenchmarkDatabase(options.databaseURL, name: "sandbox", maxConnections: 4, logger: logger, say: say) { pool, url in
            try await measure(pool, url: url, say: say)
        }
    }


    private func measure(_ pool: PostgresPool, url: String, say: @Sendable (String) -> Void) async throws -> [String] {
        try await pool.withConnection { connection in _ = try await Migrator.embedded(logger: logger).migrate(on: connection) }
        let store = MarketStore(pool: pool)
        let admin = Actor.administrator("pdx bench sandbox")
        func party(_ kind: PartyKind, _ name: String) async throws -> Party { try await benchmarkParty(store, kind, name, by: admin) }
        let agency = try await party(.agency, "上海市卫生健康委员会")
        let seller = try await party(.operator, "健康数据运营")
        let buyer = try await party(.demander, "保险公司 insurer")
        let resource = try await store.registerResource(NewResource(title: "门诊记录 outpatient records", sector: "health", regionCode: "310000",
                                                                    grade: .important), agency: agency.id, by: admin)
        let grant = try await store.grant(Authorization(agencyID: agency.id, operatorID: seller.id, sectors: ["health"], regions: [try RegionCode("310000")],
                                                        scenarios: ["public_health"], mode: .multi, validFrom: Date() - 3600,
                                                        validUntil: Date() + 86_400 * 300), by: admin)
        let version = ProductVersion(title: "门诊负荷沙箱 outpatient load sandbox", sector: "health", regions: [try RegionCode("310000")],
                                     scenarios: ["public_health"], fields: ["district", "cost"], deliveryModes: [.sandbox], chargeUnit: .call,
                                     listPriceFen: 100, sourceResourceIDs: [resource.id])
        let product = try await store.createProduct(version, operator: seller.id, authorization: grant.id, by: .party(seller.id))
        try await store.list(product.id, by: .party(seller.id))
        let order = try await store.order(product: product.id, quantity: 1_000_000, purpose: .industryDevelopment, buyer: buyer.id,
                                          scenario: "public_health", by: .party(buyer.id))
        for state in [OrderState.accepted, .delivered] { try await store.changeOrder(order.id, to: state, reason: nil, by: .party(seller.id)) }
        let key = try await store.createAPIKey(party: buyer.id, label: "pdx bench sandbox", by: admin).token

        // The dataset: entities with rows spread evenly, each in one of 10 districts, a year and a cost.
        say("writing \(options.rows) rows of \(options.entities) entities as CSV…")
        var random = SplitMix64(seed: 18)
        var csv = "patient_id,district,year,cost\n"
        csv.reserveCapacity(options.rows * 28)
        for row in 0..<options.rows {
            let entity = row % options.entities
            csv += "p\(entity),district-\(entity % 10),\(2022 + Int(random.next() % 5)),\(random.next() % 20_000)\n"
        }
        let columns = [SandboxColumn(name: "patient_id", role: .entity, type: .text), SandboxColumn(name: "district", role: .dimension, type: .text),
                       SandboxColumn(name: "year", role: .dimension, type: .integer),
                       SandboxColumn(name: "cost", role: .measure, type: .number, lower: 0, upper: 200_000)]
        let progress = ProgressLine("load")
        let loadStarted = ContinuousClock.now
        let load = try await store.loadSandboxDataset(product: product.id, columns: columns, settings: SandboxSettings(epsilonBudget: 100),
                                                      csv: Data(csv.utf8), by: admin) { done, total in progress.update("\(done)/\(total) rows") }
        let loadSeconds = milliseconds(ContinuousClock.now - loadStarted) / 1000
        progress.finish("\(load.rows) rows, \(load.entities) entities")
        let table = try await pool.query("SELECT table_name FROM sandbox_datasets WHERE product_id = \(product.id)").scalar(String.self) ?? ""

        // The yardstick: the same aggregate as plain SQL, no bounding, no noise, no queue.
        var bare: [Double] = []
        for _ in 0..<max(5, options.analyses / 3) {
            let started = ContinuousClock.now
            _ = try await pool.query("SELECT c2, count(DISTINCT entity), sum(c4) FROM pdx_sandbox.\(identifier: table) GROUP BY c2")
            bare.append(milliseconds(ContinuousClock.now - started))
        }

        let log = URL(fileURLWithPath: "/tmp/pdx-bench-sandbox-\(getpid())")
        let (server, port) = try await APIBenchmark.startServer(executable: options.executable, log: log.appendingPathExtension("serve.log"), arguments: [
            "serve", "--database-url", url, "--rate-limit", "0", "--log-level", "error",
        ])
        defer { if server.isRunning { server.terminate() } }
        let worker = ChildProcess()
        worker.executableURL = URL(fileURLWithPath: options.executable)
        worker.arguments = ["work", "--database-url", url, "--queues", "default", "--concurrency", "1", "--poll-interval", "100ms", "--log-level", "warning"]
        let workerLog = log.appendingPathExtension("work.log")
        _ = FileManager.default.createFile(atPath: workerLog.path, contents: nil)
        let handle = try FileHandle(forWritingTo: workerLog)
        worker.standardOutput = handle
        worker.standardError = handle
        try worker.run()
        defer { if worker.isRunning { worker.terminate() } }
        let deadline = ContinuousClock.now + .seconds(60)
        while try await pool.query("""
            SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pdx work%' AND query ILIKE 'LISTEN%'
            """).scalar(Int64.self) ?? 0 < 1 {
            guard ContinuousClock.now < deadline, worker.isRunning else { throw LocalPostgresError("pdx work did not start; see \(workerLog.path)") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let client = Client(serverURL: try require(URL(string: "http://127.0.0.1:\(port)")), apiKey: key)
        let request = Components.Schemas.SandboxAnalysisRequest(
            productId: product.id.uuidString.lowercased(),
            measures: [.init(statistic: .countEntities), .init(statistic: .sum, column: "cost")], groupBy: ["district"], epsilon: 0.1)
        // Ready is the finishing transaction's commit, heard on the channel it notifies (waiting locally, so that no polling
        // competes with the analysis for the two cores); then the result is read once through the API.
        let listener = try PostgresListener(configuration: .init(connectionString: url, applicationName: "pdx bench sandbox"), logger: logger)
        defer { listener.shutdown() }
        let heard = Heard()
        let events = try listener.subscribe(to: MarketStore.sandboxChannel)
        let hearing = Task {
            for await event in events {
                switch event {
                case .listening: heard.listening()
                case .notification(let notification): heard.record(notification.payload)
                }
            }
        }
        defer { hearing.cancel() }
        while !heard.isListening {
            guard ContinuousClock.now < deadline else { throw LocalPostgresError("could not LISTEN on \(MarketStore.sandboxChannel)") }
            try await Task.sleep(for: .milliseconds(10))
        }
        var endToEnd: [Double] = [], inWorker: [Double] = [], released: [Int] = []
        say("running \(options.analyses) analyses through the API and one worker (3 more first, to warm up)…")
        for index in 0..<(options.analyses + 3) {
            let started = ContinuousClock.now
            let submitted = try await client.submitSandboxAnalysis(body: .json(request)).accepted.body.json
            var finished = heard.time(of: submitted.id)
            while finished == nil {
                guard ContinuousClock.now - started < .seconds(120) else { throw LocalPostgresError("analysis \(submitted.id) not done in 2 minutes") }
                try await Task.sleep(for: .microseconds(200))
                finished = heard.time(of: submitted.id)
            }
            let analysis = try await client.getSandboxAnalysis(path: .init(id: submitted.id)).ok.body.json
            guard analysis.state == .done, let result = analysis.result else {
                throw LocalPostgresError("analysis \(submitted.id) \(analysis.state): \(analysis.failure ?? "")")
            }
            guard index >= 3 else { continue }
            endToEnd.append(milliseconds((finished ?? .now) - started))
            inWorker.append(Double(analysis.elapsedMs ?? 0))
            released.append(result.groups.count)
        }
        // Where the time between submission and result goes, from the analyses' own timestamps (database clock).
        let (queued, finishing) = try await pool.query("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at) * 1000)::float8,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000 - elapsed_ms)::float8
            FROM (SELECT * FROM sandbox_analyses ORDER BY created_at OFFSET 3) a
            """).decode(Double.self, Double.self).first ?? (0, 0)
        server.terminate()
        worker.terminate()
        return [
            String(format: "sandbox analysis p50: %.1f ms", percentile(endToEnd, 0.5)),
            String(format: "sandbox analysis p90: %.1f ms", percentile(endToEnd, 0.9)),
            String(format: "sandbox analysis in worker p50: %.1f ms", percentile(inWorker, 0.5)),
            String(format: "sandbox queue wait p50: %.1f ms", queued),
            String(format: "sandbox run besides the query p50: %.1f ms", finishing),
            String(format: "bare aggregate p50: %.1f ms", percentile(bare, 0.5)),
            "sandbox groups released: \(released.min() ?? 0) groups",
            "sandbox dataset: \(load.rows) rows",
            String(format: "sandbox load: %.0f rows/s", Double(load.rows) / loadSeconds),
        ]
    }
}

/// When each analysis's notification arrived (the listener's thread records; the benchmark's loop reads).
private final class Heard: Sendable {
    private let state = Mutex<(listening: Bool, times: [String: ContinuousClock.Instant])>((false, [:]))

    func listening() { state.withLock { $0.listening = true } }
    var isListening: Bool { state.withLock { $0.listening } }
    func record(_ id: String) { state.withLock { $0.times[id] = .now } }
    func time(of id: String) -> ContinuousClock.Instant? { state.withLock { $0.times[id] } }
}

private func require<T>(_ value: T?) throws -> T {
    guard let value else { throw LocalPostgresError("the server's URL is malformed") }
    return value
}
