import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JobQueue
import Logging
import Market
import MarketJobs
import MarketStore
import Migrations
import PDXTestSupport
import Postgres
import Testing

extension HeavyProcesses {
    /// Delivery under real processes: usage batches sent twice at once through two `pdx serve` count each
    /// event once; a `pdx work` SIGKILLed while it closes a month leaves no statement issued twice and none
    /// missing once another worker finishes the close.
    @Suite struct DeliveryChaosTests {
        @Test func usageSentTwiceAtOnceThroughTwoAPIsIsCountedOnce() async throws {
            try await ChaosDatabase.with { database in
                let seeded = try await DeliveryMarket.seed(database.url, entitlements: 20)
                try await ChaosProcesses.with(database.url) { processes in
                    let ports = try await processes.startAPIs(2)
                    // 40 batches of 500 events, units 1 to 3, over the 20 entitlements.
                    var random = SplitMix64(seed: 17)
                    let at = ISO8601DateFormatter().string(from: Date())
                    var expected: Int64 = 0
                    let batches: [Data] = try (0..<40).map { batch in
                        let events: [[String: Any]] = (0..<500).map { index in
                            let units = Int.random(in: 1...3, using: &random)
                            expected += Int64(units)
                            return ["event_id": "b\(batch)-e\(index)", "entitlement_id": seeded.entitlements[Int.random(in: 0..<20, using: &random)].uuidString.lowercased(),
                                    "units": units, "occurred_at": at]
                        }
                        return try JSONSerialization.data(withJSONObject: ["events": events])
                    }
                    let session = URLSession(configuration: .ephemeral)
                    // Every batch to both APIs at the same moment, and every fourth once more: 100 requests, 16 at a time.
                    let sends = batches.indices.flatMap { [($0, ports[0]), ($0, ports[1])] + ($0 % 4 == 0 ? [($0, ports[$0 % 2])] : []) }
                    let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
                        var total = 0, next = 0
                        func send(_ index: Int) {
                            let (batch, port) = sends[index]
                            group.addTask {
                                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/usage")!)
                                request.httpMethod = "POST"
                                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                                request.setValue("Bearer \(seeded.sellerKey)", forHTTPHeaderField: "Authorization")
                                request.httpBody = batches[batch]
                                let (data, response) = try await session.data(for: request)
                                guard (response as? HTTPURLResponse)?.statusCode == 200,
                                      let body = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                                    throw TestFailure("POST /v1/usage answered \(String(decoding: data, as: UTF8.self))")
                                }
                                #expect((body["refused"] as? [Any])?.isEmpty == true)
                                return body["accepted"] as? Int ?? -1
                            }
                        }
                        while next < min(16, sends.count) { send(next); next += 1 }
                        while let counted = try await group.next() {
                            total += counted
                            if next < sends.count { send(next); next += 1 }
                        }
                        return total
                    }
                    #expect(accepted == 20_000, "each event counted by exactly one of the requests that carried it")
                    let (events, used, daily) = try await withConnection(PostgresConfiguration(connectionString: database.url)) { connection in
                        (try await connection.query("SELECT count(*) FROM usage_events").scalar(Int64.self),
                         try await connection.query("SELECT sum(units_used)::int8 FROM entitlements").scalar(Int64.self),
                         try await connection.query("SELECT sum(units)::int8 FROM usage_daily").scalar(Int64.self))
                    }
                    #expect(events == 20_000 && used == expected && daily == expected, "\(String(describing: events)) events, \(String(describing: used)) and \(String(describing: daily)) units of \(expected)")
                    #expect(processes.exited().isEmpty)
                }
            }
        }

        @Test func aWorkerKilledWhileClosingAMonthIssuesEveryStatementOnce() async throws {
            try await ChaosDatabase.with { database in
                let count = 5_000
                let seeded = try await DeliveryMarket.seed(database.url, entitlements: count, usageIn: seededMonth)
                let configuration = PostgresConfiguration(connectionString: database.url)
                try await ChaosProcesses.with(database.url) { processes in
                    try await withConnection(configuration) { connection in
                        _ = try await connection.enqueue(NewJob(ClosePeriodJob(period: seededMonth.description, scheduleNext: false)))
                    }
                    try await processes.startWorkers(1, options: ["--lease", "3s"])
                    // Killed once some statements are issued, before the month is closed.
                    var atKill: Int64 = 0
                    let deadline = ContinuousClock.now + .seconds(120)
                    try await withConnection(configuration) { connection in
                        while atKill == 0 {
                            guard ContinuousClock.now < deadline else { throw TestFailure("the close issued nothing within 120 s") }
                            try await Task.sleep(for: .milliseconds(20))
                            atKill = try await connection.query("SELECT count(*) FROM statements").scalar(Int64.self) ?? 0
                        }
                    }
                    try await processes.sigkill("work-0")
                    let closedAtKill: Bool = try await withConnection(configuration) { connection in
                        try await connection.query("SELECT closed_at IS NOT NULL FROM billing_periods WHERE period = \(seededMonth.first)").scalar(Bool.self) ?? false
                    }
                    #expect(!closedAtKill, "killed mid-close (\(atKill) of \(count) statements issued)")
                    try await processes.startWorkers(1, options: ["--lease", "3s"])
                    let figures: [Int64?] = try await withConnection(configuration) { connection in
                        let end = ContinuousClock.now + .seconds(180)
                        while try await connection.query("""
                            SELECT count(*) FROM billing_periods WHERE closed_at IS NOT NULL AND period = \(seededMonth.first)
                            """).scalar(Int64.self) ?? 0 == 0 {
                            guard ContinuousClock.now < end else { throw TestFailure("the month was not closed within 180 s of the kill") }
                            try await Task.sleep(for: .milliseconds(200))
                        }
                        return [
                            try await connection.query("SELECT count(*) FROM statements").scalar(Int64.self),
                            try await connection.query("SELECT count(*) FROM (SELECT entitlement_id FROM statements GROUP BY 1 HAVING count(*) > 1) twice")
                                .scalar(Int64.self),
                            try await connection.query("""
                                SELECT count(*) FROM entitlements e WHERE NOT EXISTS (SELECT 1 FROM statements s WHERE s.entitlement_id = e.id)
                                """).scalar(Int64.self),
                            try await connection.query("SELECT coalesce(sum(amount_fen), 0)::int8 FROM ledger_entries").scalar(Int64.self),
                            try await connection.query("SELECT statements::int8 FROM billing_periods WHERE period = \(seededMonth.first)").scalar(Int64.self),
                        ]
                    }
                    // Every statement issued once, none missing, the ledger balanced, the month's count right.
                    #expect(figures == [Int64(count), 0, 0, 0, Int64(count)], "\(figures)")
                    _ = seeded
                }
            }
        }

        /// The month the kill test bills: the one before this one.
        var seededMonth: BillingPeriod { BillingPeriod(containing: Date()).previous }
    }
}

/// A seller with `entitlements` delivered orders of a per-call product, its API key, and (with `usageIn`)
/// usage on a few days of that month.
enum DeliveryMarket {
    struct Seeded: Sendable {
        var sellerKey: String
        var entitlements: [UUID]
    }

    static func seed(_ url: String, entitlements count: Int, usageIn month: BillingPeriod? = nil) async throws -> Seeded {
        var logger = Logger(label: "chaos")
        logger.logLevel = .critical
        let configuration = PostgresConfiguration(connectionString: url)
        try await withConnection(configuration) { connection in _ = try await Migrator.embedded(logger: logger).migrate(on: connection) }
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2), logger: logger)
        do {
            let store = MarketStore(pool: pool)
            let admin = Actor.administrator("chaos")
            func party(_ kind: PartyKind, _ name: String) async throws -> Party {
                let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
                let code = try CreditCode.completing("91310000" + String((0..<9).map { _ in alphabet.randomElement()! })).value
                return try await store.registerParty(NewParty(kind: kind, name: name, creditCode: code, regionCode: "310000"), by: admin)
            }
            let agency = try await party(.agency, "上海市大数据中心"), seller = try await party(.operator, "数据运营甲"), buyer = try await party(.demander, "某银行")
            let resource = try await store.registerResource(NewResource(title: "道路流量", sector: "transport", regionCode: "310000", grade: .general),
                                                            agency: agency.id, by: admin)
            let grant = try await store.grant(Authorization(agencyID: agency.id, operatorID: seller.id, sectors: ["transport"],
                                                            regions: [try RegionCode("310000")], scenarios: ["logistics"], mode: .multi,
                                                            validFrom: Date() - 86_400 * 90, validUntil: Date() + 86_400 * 300), by: admin)
            let product = try await store.createProduct(
                ProductVersion(title: "路况指数", sector: "transport", regions: [try RegionCode("310000")], scenarios: ["logistics"], fields: ["road_id"],
                               deliveryModes: [.api], chargeUnit: .call, listPriceFen: 5, sourceResourceIDs: [resource.id]),
                operator: seller.id, authorization: grant.id, by: .party(seller.id))
            try await store.list(product.id, by: .party(seller.id))
            let ids = try await store.deliverSyntheticOrders(product: product.id, buyers: [buyer.id], count: count, quantity: 1_000_000,
                                                             startsAt: (month?.start ?? Date()) - 86_400 * 2)
            guard ids.count == count else { throw TestFailure("seeded \(ids.count) entitlements, not \(count)") }
            if let month { try await store.writeSyntheticUsage(ids, in: month, every: 10, maximum: 500) }
            let key = try await store.createAPIKey(party: seller.id, label: "chaos", by: admin).token
            await pool.close()
            return Seeded(sellerKey: key, entitlements: ids)
        } catch {
            await pool.close()
            throw error
        }
    }
}
