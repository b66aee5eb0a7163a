import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Market
import MarketAPI
import MarketJobs
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// A sandbox dataset of visits: entities in districts (one district each), three rows each, and what the
/// analyses should find without noise.
struct VisitData {
    struct Person { var id: String; var district: String; var age: Int; var incomes: [Double] }

    var people: [Person] = []
    static let bound = 100_000.0

    /// `perDistrict` people in each of d1…d5, three on the island (fewer than k), and the target: the only
    /// person aged 77, in d1.
    init(perDistrict: Int = 40, seed: UInt64 = 7) {
        var random = SplitMix64(seed: seed)
        for district in ["d1", "d2", "d3", "d4", "d5"] {
            for n in 0..<perDistrict {
                people.append(Person(id: "\(district)-\(n)", district: district, age: Int.random(in: 20...70, using: &random),
                                     incomes: (0..<3).map { _ in Double(Int.random(in: 0...40_000, using: &random)) }))
            }
        }
        for n in 0..<3 { people.append(Person(id: "island-\(n)", district: "island", age: 40, incomes: [1000, 2000, 3000])) }
        people.append(Person(id: "target", district: "d1", age: 77, incomes: [30_000, 30_000, 30_000]))
    }

    var csv: Data {
        var text = "person_id,name,district,year,age,visit_date,income\n"
        for person in people {
            for (index, income) in person.incomes.enumerated() {
                text += "\(person.id),\"Name, \(person.id)\",\(person.district),\(2024 + index),\(person.age),\(2024 + index)-03-0\(index + 1),\(Int(income))\n"
            }
        }
        return Data(text.utf8)
    }

    static let columns = [
        SandboxColumn(name: "person_id", role: .entity, type: .text), SandboxColumn(name: "name", role: .hidden, type: .text),
        SandboxColumn(name: "district", role: .dimension, type: .text), SandboxColumn(name: "year", role: .dimension, type: .integer),
        SandboxColumn(name: "age", role: .dimension, type: .integer), SandboxColumn(name: "visit_date", role: .dimension, type: .date),
        SandboxColumn(name: "income", role: .measure, type: .number, lower: 0, upper: bound),
    ]

    /// Per district: distinct people and the sum of their totals clipped to the bound (people passing `keep`).
    func truth(_ keep: (Person) -> Bool = { _ in true }) -> [String: (count: Int, sum: Double)] {
        var truth: [String: (count: Int, sum: Double)] = [:]
        for person in people where keep(person) {
            let total = min(max(person.incomes.reduce(0, +), 0), Self.bound)
            truth[person.district, default: (0, 0)].count += 1
            truth[person.district, default: (0, 0)].sum += total
        }
        return truth
    }
}

extension APIMarket {
    /// A listed sandbox product on an important resource under the market's grant, its dataset loaded.
    func sandboxProduct(_ settings: SandboxSettings = SandboxSettings(), data: VisitData = VisitData()) async throws -> UUID {
        let resource = try await store.registerResource(NewResource(title: "门诊记录 outpatient records", sector: "transport", regionCode: "310000",
                                                                    grade: .important), agency: agency.id, by: admin)
        let version = ProductVersion(title: "门诊沙箱 visits sandbox", sector: "transport", regions: [try RegionCode("310000")], scenarios: ["logistics"],
                                     fields: ["district", "income"], deliveryModes: [.sandbox], chargeUnit: .call, listPriceFen: 100,
                                     sourceResourceIDs: [resource.id])
        let product = try await store.createProduct(version, operator: operatorParty.id, authorization: grant, by: .party(operatorParty.id))
        try await store.list(product.id, by: .party(operatorParty.id))
        _ = try await store.loadSandboxDataset(product: product.id, columns: VisitData.columns, settings: settings, csv: data.csv, by: admin)
        return product.id
    }

    /// A delivered order of `buyer` for `quantity` calls of `product`: its entitlement.
    func entitlement(to product: UUID, buyer: Party, quantity: Int64 = 1000) async throws -> UUID {
        let order = try await store.order(product: product, quantity: quantity, purpose: .industryDevelopment, buyer: buyer.id, scenario: "logistics",
                                          by: .party(buyer.id))
        for state in [OrderState.accepted, .delivered] { try await store.changeOrder(order.id, to: state, reason: nil, by: .party(operatorParty.id)) }
        return try #require(try await pool.query("SELECT id FROM entitlements WHERE order_id = \(order.id)").scalar(UUID.self))
    }
}

@Suite(.serialized) struct SandboxTests {
    typealias Get = SeeingTests

    static func body(_ product: UUID, measures: [[String: Any]], groupBy: [String] = ["district"], filters: [[String: Any]] = [],
                     epsilon: Double = 1) -> [String: Any] {
        ["product_id": product.uuidString.lowercased(), "measures": measures, "group_by": groupBy, "filters": filters, "epsilon": epsilon]
    }

    nonisolated(unsafe) static let countAndSum: [[String: Any]] = [["statistic": "count_entities"], ["statistic": "sum", "column": "income"]]

    /// Submits an analysis through the API and, when queued, runs it as the worker would; the analysis as its buyer reads it.
    static func analyse(_ market: APIMarket, _ client: some TestClientProtocol, _ body: [String: Any], key: String? = nil)
        async throws -> (HTTPResponse.Status, [String: Any]) {
        let (status, queued, _) = try await Get.post(client, "/v1/sandbox/analyses", key ?? market.demanderKey, body)
        guard status == .accepted, let id = (queued["id"] as? String).flatMap(UUID.init(uuidString:)) else { return (status, queued) }
        _ = try await market.store.runSandboxAnalysis(id)
        return try await Get.get(client, "/v1/sandbox/analyses/\(id.uuidString.lowercased())", key ?? market.demanderKey)
    }

    static func ids(_ page: [String: Any]) -> [String] { (page["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }

    static func groups(_ analysis: [String: Any]) -> [String: [[String: Any]]] {
        let groups = ((analysis["result"] as? [String: Any])?["groups"] as? [[String: Any]]) ?? []
        return Dictionary(uniqueKeysWithValues: groups.map { (($0["keys"] as? [Any])?.first as? String ?? "null", $0["figures"] as? [[String: Any]] ?? []) })
    }

    @Test func anAnalysisReleasesNoisyAggregatesOfGroupsWithAtLeastKEntitiesOnly() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct()
            _ = try await market.entitlement(to: product, buyer: market.demander)
            // The dataset says what may be asked, not what it holds.
            let (shown, dataset) = try await Get.get(client, "/v1/products/\(product.uuidString.lowercased())/sandbox", market.demanderKey)
            #expect(shown == .ok && dataset["min_entities"] as? Int == 10 && dataset["epsilon_left"] as? Double == 10)
            #expect(dataset["row_count"] == nil && dataset["entity_count"] == nil)
            #expect((dataset["columns"] as? [[String: Any]])?.map { $0["role"] as? String ?? "" } == ["entity", "hidden", "dimension", "dimension", "dimension", "dimension", "measure"])
            #expect(try await Get.get(client, "/v1/products/\(product.uuidString.lowercased())/sandbox", market.operatorKey).1["entity_count"] as? Int == 204)

            _ = try await market.store.setWebhook(party: market.demander.id, url: "https://hooks.example.com/pdx", policy: .development,
                                                  by: .party(market.demander.id))
            let measures = Self.countAndSum + [["statistic": "mean", "column": "income"], ["statistic": "quantile", "column": "income", "quantile": 0.5]]
            let (status, analysis) = try await Self.analyse(market, client, Self.body(product, measures: measures))
            #expect(status == .ok && analysis["state"] as? String == "done")
            let groups = Self.groups(analysis)
            // The island's three people are never shown; every district of 40 or 41 is.
            #expect(Set(groups.keys) == ["d1", "d2", "d3", "d4", "d5"])
            #expect(analysis["groups_suppressed"] == nil, "buyers do not learn how many groups were kept back")
            let truth = VisitData().truth()
            for (district, figures) in groups {
                let count = try #require(figures.first { $0["statistic"] as? String == "count_entities" })
                let sum = try #require(figures.first { $0["statistic"] as? String == "sum" })
                let mean = try #require(figures.first { $0["statistic"] as? String == "mean" })
                let median = try #require(figures.first { $0["statistic"] as? String == "quantile" })
                let expected = try #require(truth[district])
                // Within ten stated errors (a miss has probability e^-30 per figure: a broken mechanism, not bad luck).
                #expect(abs((count["value"] as? Double ?? -1) - Double(expected.count)) <= 10 * (count["error"] as? Double ?? 0))
                #expect(abs((sum["value"] as? Double ?? -1) - expected.sum) <= 10 * (sum["error"] as? Double ?? 0))
                let value = try #require(mean["value"] as? Double)
                #expect(value >= 0 && value <= VisitData.bound && mean["error"] as? Double != nil)
                #expect(median["resolution"] as? Double == VisitData.bound / 32 && median["error"] == nil)
            }
            // The operator and the agency audit it, with the groups kept back; another demander cannot see it.
            let id = try #require(analysis["id"] as? String)
            for key in [market.operatorKey, market.agencyKey] {
                let (seen, audited) = try await Get.get(client, "/v1/sandbox/analyses/\(id)", key)
                #expect(seen == .ok && audited["groups_suppressed"] as? Int == 1 && audited["buyer_id"] as? String == market.demander.id.lowercased)
                #expect(Self.ids(try await Get.get(client, "/v1/sandbox/analyses?product_id=\(product.uuidString.lowercased())", key).1) == [id])
            }
            #expect(try await Get.get(client, "/v1/sandbox/analyses/\(id)", market.otherKey).0 == .notFound)
            #expect(Self.ids(try await Get.get(client, "/v1/sandbox/analyses", market.otherKey).1).isEmpty)
            #expect(try await market.pool.query("""
                SELECT count(*) FROM audit_events WHERE subject_id = \(id) AND action IN ('sandbox_analysis.submitted', 'sandbox_analysis.done')
                """).scalar(Int64.self) == 2)
            // Metered and priced like any use: one call of the entitlement, billed at the month's close.
            #expect(try await market.pool.query("SELECT units_used FROM entitlements WHERE product_id = \(product)").scalar(Int64.self) == 1)
            #expect(try await market.pool.query("SELECT count(*) FROM usage_events WHERE event_id = \("sandbox:\(id)")").scalar(Int64.self) == 1)
            // The buyer's webhook hears it is ready.
            let told = try await market.pool.query("SELECT args::text FROM pdx_jobs WHERE kind = 'notify' AND args ->> 'type' = 'sandbox_analysis.ready'")
                .decode(String.self).map { try JSONDecoder().decode(NotifyJob.self, from: Data($0.utf8)) }
            #expect(told.count == 1 && told.first?.partyID == market.demander.id)
            let event = try await market.store.webhookEvent(try #require(told.first))
            #expect(event.data.analysisID == id && event.data.state == "done" && event.data.productID == product.uuidString.lowercased())
            // What was asked and released never changes.
            await #expect(throws: PostgresError.self) { try await market.pool.execute("UPDATE sandbox_analyses SET epsilon = 0.01 WHERE id = \(UUID(uuidString: id))") }
            await #expect(throws: PostgresError.self) { try await market.pool.execute("DELETE FROM sandbox_analyses") }
            // A worker's rerun (after a crash, or a duplicate job) changes nothing.
            #expect(try await market.store.runSandboxAnalysis(try #require(UUID(uuidString: id))) == .nothingToDo)
            // The queue carries the job; no SQL from the buyer ever reached the database.
            #expect(try await market.pool.query("SELECT count(*) FROM pdx_jobs WHERE kind = 'sandbox_analysis'").scalar(Int64.self) == 1)
        }
    }

    @Test func identifierAndHiddenColumnsAreRefusedInEveryPosition() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct()
            _ = try await market.entitlement(to: product, buyer: market.demander)
            for column in ["person_id", "name"] {
                let cases: [([String: Any], String)] = [
                    (Self.body(product, measures: Self.countAndSum, groupBy: [column]), "group_by[0]"),
                    (Self.body(product, measures: Self.countAndSum, filters: [["column": column, "op": "eq", "value": "target"]]), "filters[0].column"),
                    (Self.body(product, measures: [["statistic": "sum", "column": column]]), "measures[0].column"),
                    (Self.body(product, measures: [["statistic": "quantile", "column": column, "quantile": 0.5]]), "measures[0].column"),
                    (Self.body(product, measures: Self.countAndSum, groupBy: ["district", column]), "group_by[1]"),
                ]
                for (body, field) in cases {
                    let (status, problem, _) = try await Get.post(client, "/v1/sandbox/analyses", market.demanderKey, body)
                    #expect(status == .badRequest && problem["field"] as? String == field, "\(column) as \(field)")
                    #expect((problem["detail"] as? String)?.contains(column == "person_id" ? "entity identifier" : "hidden") == true)
                }
            }
            // Roles are kept apart too: a measure is not grouped, a dimension not summed; unknown columns are named.
            for (body, field) in [(Self.body(product, measures: Self.countAndSum, groupBy: ["income"]), "group_by[0]"),
                                  (Self.body(product, measures: [["statistic": "sum", "column": "district"]]), "measures[0].column"),
                                  (Self.body(product, measures: Self.countAndSum, groupBy: ["nope"]), "group_by[0]"),
                                  (Self.body(product, measures: Self.countAndSum, filters: [["column": "year", "op": "eq", "value": "2024"]]), "filters[0].value"),
                                  (Self.body(product, measures: Self.countAndSum, filters: [["column": "visit_date", "op": "eq", "value": "2024-13-01"]]), "filters[0].value"),
                                  (Self.body(product, measures: Self.countAndSum, epsilon: 11), "epsilon"),
                                  (Self.body(product, measures: []), "measures")] {
                let (status, problem, _) = try await Get.post(client, "/v1/sandbox/analyses", market.demanderKey, body)
                #expect(status == .badRequest && problem["field"] as? String == field, "\(field)")
            }
            // Nothing refused spent anything.
            #expect(try await market.store.sandboxDataset(of: product)?.epsilonSpent == 0)
        }
    }

    @Test func filterValuesWithSQLInThemAreJustValues() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct(SandboxSettings(epsilonBudget: 100))
            _ = try await market.entitlement(to: product, buyer: market.demander)
            let hostile = ["d1' OR '1'='1", "d1'; DROP TABLE parties; --", #"d1") OR true --"#, "$1", "\\x00"]
            for value in hostile {
                let (status, analysis) = try await Self.analyse(market, client, Self.body(product, measures: Self.countAndSum,
                                                                                          filters: [["column": "district", "op": "eq", "value": value]]))
                #expect(status == .ok && analysis["state"] as? String == "done" && Self.groups(analysis).isEmpty, "\(value)")
            }
            let (_, listed) = try await Self.analyse(market, client, Self.body(product, measures: Self.countAndSum,
                                                                               filters: [["column": "district", "op": "in", "values": hostile + ["d2"]]]))
            #expect(Set(Self.groups(listed).keys) == ["d2"])
            let (_, excluded) = try await Self.analyse(market, client, Self.body(product, measures: Self.countAndSum,
                                                                                 filters: [["column": "district", "op": "not_in", "values": hostile + ["d2"]]]))
            #expect(Set(Self.groups(excluded).keys) == ["d1", "d3", "d4", "d5"])
            let (_, ranged) = try await Self.analyse(market, client, Self.body(product, measures: Self.countAndSum, groupBy: ["year"],
                                                                               filters: [["column": "visit_date", "op": "between", "values": ["2024-01-01", "2025-12-31"]]]))
            #expect(Set(Self.groups(ranged).keys) == ["2024", "2025"])
            // Everyone has a row in every year, but counts in one year only (max_groups_per_entity = 1): 204 people, not 612.
            let (_, years) = try await Self.analyse(market, client, Self.body(product, measures: [["statistic": "count_entities"]], groupBy: ["year"]))
            let counted = Self.groups(years).values.compactMap { $0.first?["value"] as? Double }.reduce(0, +)
            #expect(Self.groups(years).count == 3 && abs(counted - 204) < 30, "\(counted)")
            // The load found which dimensions hold one value per person.
            let stable = try await market.store.sandboxDataset(of: product)?.columns.filter { $0.entityStable == true }.map(\.name)
            #expect(stable == ["district", "age"])
            #expect(try await market.pool.query("SELECT count(*) FROM parties").scalar(Int64.self) ?? 0 > 0)
        }
    }

    @Test func theDatasetIsReadableOnlyByTheSandboxRoleAndItReadsNothingElse() async throws {
        try await withAPI { market, _ in
            let product = try await market.sandboxProduct()
            let table = try #require(try await market.pool.query("SELECT table_name FROM sandbox_datasets WHERE product_id = \(product)").scalar(String.self))
            // The reader: the dataset yes, the market's tables no, and never a write.
            let rows = try await market.pool.withTransaction(readOnly: true) { connection in
                try await connection.execute("SET LOCAL ROLE pdx_sandbox_reader")
                return try await connection.query("SELECT count(*) FROM pdx_sandbox.\(identifier: table)").scalar(Int64.self)
            }
            #expect(rows == 612)
            for statement: PostgresQuery in ["SELECT count(*) FROM parties", "SELECT count(*) FROM sandbox_analyses",
                                             "DELETE FROM pdx_sandbox.\(identifier: table)"] {
                await #expect(throws: PostgresError.self, "\(statement)") {
                    try await market.pool.withTransaction { connection in
                        try await connection.execute("SET LOCAL ROLE pdx_sandbox_reader")
                        _ = try await connection.query(statement)
                    }
                }
            }
            // Identifiers are not there at all: pdx stored a number per person and no hidden column.
            let columns = try await market.pool.query("""
                SELECT column_name FROM information_schema.columns WHERE table_schema = 'pdx_sandbox' AND table_name = \(table) ORDER BY ordinal_position
                """).decode(String.self)
            #expect(columns == ["entity", "c3", "c4", "c5", "c6", "c7"])
            #expect(try await market.pool.query("""
                SELECT has_table_privilege('public', \("pdx_sandbox." + table), 'SELECT')
                """).scalar(Bool.self) == false)
        }
    }

    @Test func onlyBuyersWithAnEntitlementInForceToTheProductMayAnalyse() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct()
            let analysis = Self.body(product, measures: Self.countAndSum)
            // No entitlement; one to another product; someone else's.
            var (status, problem, _) = try await Get.post(client, "/v1/sandbox/analyses", market.otherKey, analysis)
            #expect(status == .conflict && problem["code"] as? String == "not_entitled")
            let other = try await market.entitlement()
            var borrowed = analysis
            borrowed["entitlement_id"] = other.uuidString.lowercased()
            (status, problem, _) = try await Get.post(client, "/v1/sandbox/analyses", market.demanderKey, borrowed)
            #expect(status == .conflict && problem["code"] as? String == "not_entitled")
            let entitlement = try await market.entitlement(to: product, buyer: market.demander)
            var theirs = analysis
            theirs["entitlement_id"] = entitlement.uuidString.lowercased()
            #expect(try await Get.post(client, "/v1/sandbox/analyses", market.otherKey, theirs).0 == .notFound)
            // Queued, then its buyer suspended before it ran: it fails without reading, and the epsilon comes back.
            let (queued, submitted, _) = try await Get.post(client, "/v1/sandbox/analyses", market.demanderKey, analysis)
            #expect(queued == .accepted && submitted["state"] as? String == "queued")
            try await market.store.changeAuthorization(market.grant, to: .suspended, reason: "audit", by: market.admin)
            let id = try #require(UUID(uuidString: submitted["id"] as? String ?? ""))
            guard case .failed(let why) = try await market.store.runSandboxAnalysis(id) else { Issue.record("ran while suspended"); return }
            #expect(why.contains("entitlement_suspended"))
            let failed = try await Get.get(client, "/v1/sandbox/analyses/\(id.uuidString.lowercased())", market.demanderKey).1
            #expect(failed["state"] as? String == "failed" && failed["epsilon_refunded"] as? Bool == true && failed["result"] == nil)
            #expect(try await market.store.sandboxDataset(of: product)?.epsilonSpent == 0)
            // Suspended: refused before it is queued.
            (status, problem, _) = try await Get.post(client, "/v1/sandbox/analyses", market.demanderKey, analysis)
            #expect(status == .conflict && problem["code"] as? String == "entitlement_suspended")
            try await market.store.changeAuthorization(market.grant, to: .active, reason: "audit done", by: market.admin)
            #expect(try await Self.analyse(market, client, analysis).1["state"] as? String == "done")
            // Ended: refused.
            try await market.pool.execute("UPDATE entitlements SET ends_at = now() - interval '1 second', starts_at = now() - interval '1 day' WHERE id = \(entitlement)")
            _ = try await market.store.expireEntitlement(entitlement)
            (status, problem, _) = try await Get.post(client, "/v1/sandbox/analyses", market.demanderKey, analysis)
            #expect(status == .conflict && problem["code"] as? String == "entitlement_ended")
        }
    }

    @Test func theBudgetIsSharedByEveryBuyerAndAnAnalysisThatWouldOverspendIsRefusedBeforeItRuns() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct(SandboxSettings(epsilonBudget: 3))
            _ = try await market.entitlement(to: product, buyer: market.demander)
            _ = try await market.entitlement(to: product, buyer: market.otherDemander)
            #expect(try await Self.analyse(market, client, Self.body(product, measures: Self.countAndSum, epsilon: 2)).1["state"] as? String == "done")
            let (status, problem, _) = try await Get.post(client, "/v1/sandbox/analyses", market.otherKey, Self.body(product, measures: Self.countAndSum, epsilon: 1.5))
            #expect(status == .conflict && problem["code"] as? String == "budget_exhausted")
            #expect((problem["detail"] as? String)?.contains("1.00 of its 3.00 left") == true)
            // Concurrent requests: exactly what is left is spent, never more.
            let accepted = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        try await Get.post(client, "/v1/sandbox/analyses", index % 2 == 0 ? market.demanderKey : market.otherKey,
                                           Self.body(product, measures: Self.countAndSum, epsilon: 0.25)).0
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(accepted.filter { $0 == .accepted }.count == 4 && accepted.filter { $0 == .conflict }.count == 4)
            let dataset = try #require(try await market.store.sandboxDataset(of: product))
            #expect(abs(dataset.epsilonSpent - 3) < 1e-9 && dataset.epsilonLeft < 1e-9)
            // The next period starts afresh.
            try await market.pool.execute("ALTER TABLE sandbox_analyses DISABLE TRIGGER sandbox_analyses_guard")
            try await market.pool.execute("UPDATE sandbox_analyses SET budget_period_start = budget_period_start - interval '1 month'")
            try await market.pool.execute("ALTER TABLE sandbox_analyses ENABLE TRIGGER sandbox_analyses_guard")
            #expect(try await market.store.sandboxDataset(of: product)?.epsilonLeft == 3)
        }
    }

    @Test func aTimeoutEndsARunawayAnalysisAndTheJobRecordsWhy() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct(SandboxSettings(timeoutMilliseconds: 1), data: VisitData(perDistrict: 2_000))
            _ = try await market.entitlement(to: product, buyer: market.demander)
            let measures = Self.countAndSum + [["statistic": "quantile", "column": "income", "quantile": 0.9]]
            let (status, analysis) = try await Self.analyse(market, client, Self.body(product, measures: measures, groupBy: ["district", "year", "age"]))
            #expect(status == .ok && analysis["state"] as? String == "failed")
            #expect((analysis["failure"] as? String)?.contains("timed out after 1 ms") == true)
            // It read data: its epsilon stays spent.
            let spent = try await market.store.sandboxDataset(of: product)?.epsilonSpent
            #expect(analysis["epsilon_refunded"] as? Bool == false && spent == 1)
            let audit = try await market.store.sandboxAnalyses(for: nil, product: product)
            #expect(audit.first?.failure?.contains("timed out") == true)
        }
    }

    @Test func aDifferencingAttackLearnsNoMoreThanTheNoiseAndTheBudgetAllow() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct(SandboxSettings(epsilonBudget: 10))
            _ = try await market.entitlement(to: product, buyer: market.demander)
            let everyone = Self.body(product, measures: Self.countAndSum, filters: [["column": "district", "op": "eq", "value": "d1"]])
            let allButTarget = Self.body(product, measures: Self.countAndSum,
                                         filters: [["column": "district", "op": "eq", "value": "d1"], ["column": "age", "op": "ne", "value": 77]])
            // Asking for the target alone: a group of one, never shown.
            let (_, alone) = try await Self.analyse(market, client, Self.body(product, measures: Self.countAndSum,
                                                                              filters: [["column": "age", "op": "eq", "value": 77]]))
            #expect(alone["state"] as? String == "done" && Self.groups(alone).isEmpty)
            // Pairs that differ by the target only, while the budget lasts.
            var differences: [Double] = []
            while true {
                let (first, a) = try await Self.analyse(market, client, everyone)
                let (second, b) = try await Self.analyse(market, client, allButTarget)
                guard first == .ok, second == .ok, a["state"] as? String == "done", b["state"] as? String == "done" else {
                    #expect(first == .conflict || second == .conflict)
                    break
                }
                func sum(_ analysis: [String: Any]) -> Double {
                    Self.groups(analysis)["d1"]?.first { $0["statistic"] as? String == "sum" }?["value"] as? Double ?? .nan
                }
                differences.append(sum(a) - sum(b))
            }
            // The budget stopped the attack after four pairs (one epsilon each, after the one spent above).
            #expect(differences.count == 4)
            let target = 90_000.0
            // Each sum carries Laplace noise of scale bound / (epsilon / 2) = 200,000: the target's 90,000 is lost in it. Without
            // noise every difference would be exactly 90,000; with it, all four within 10% of it has probability ~1e-6.
            #expect(differences.contains { abs($0 - target) > 9_000 })
            #expect(differences.allSatisfy { $0.isFinite })
        }
    }

    @Test func resultsAreNoisyButWithinTheStatedErrorAtTheStatedProbability() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct(SandboxSettings(epsilonBudget: 100))
            _ = try await market.entitlement(to: product, buyer: market.demander, quantity: 100)
            let truth = VisitData().truth()
            var within = 0, figures = 0, seen: [String: Set<Double>] = [:]
            for _ in 0..<40 {
                let (_, analysis) = try await Self.analyse(market, client, Self.body(product, measures: Self.countAndSum, epsilon: 1))
                for (district, values) in Self.groups(analysis) {
                    for figure in values {
                        let value = figure["value"] as? Double ?? .nan, error = figure["error"] as? Double ?? 0
                        let expected = figure["statistic"] as? String == "sum" ? truth[district]?.sum : truth[district].map { Double($0.count) }
                        figures += 1
                        if let expected, abs(value - expected) <= error { within += 1 }
                        if figure["statistic"] as? String == "sum" { seen[district, default: []].insert(value) }
                    }
                }
            }
            // 400 figures at 95%: fewer than 90% within would be four and a half standard deviations out.
            #expect(figures == 400 && Double(within) / Double(figures) >= 0.90, "\(within) of \(figures)")
            // The same analysis gives different answers (sums vary by hundreds of thousands, shown to the nearest 10,000).
            #expect(seen.count == 5 && seen.values.allSatisfy { $0.count >= 10 }, "\(seen.mapValues(\.count))")
        }
    }

    @Test func pdxctlLoadsADatasetShowsItAndAuditsItsAnalyses() async throws {
        try await withAPI { market, client in
            let resource = try await market.store.registerResource(NewResource(title: "门诊记录", sector: "transport", regionCode: "310000", grade: .important),
                                                                   agency: market.agency.id, by: market.admin)
            let version = ProductVersion(title: "门诊沙箱", sector: "transport", regions: [try RegionCode("310000")], scenarios: ["logistics"],
                                         fields: ["district"], deliveryModes: [.sandbox], chargeUnit: .call, listPriceFen: 100, sourceResourceIDs: [resource.id])
            let product = try await market.store.createProduct(version, operator: market.operatorParty.id, authorization: market.grant,
                                                               by: .party(market.operatorParty.id)).id
            let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pdx-sandbox-\(UUID()).csv")
            try VisitData().csv.write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", ["sandbox"] + arguments + ["--database-url", url])
            }
            let declared = ["--entity", "person_id", "--dimension", "district", "--dimension", "year:integer", "--dimension", "age:integer",
                            "--dimension", "visit_date:date", "--measure", "income=0..100000"]
            // A column of the file not declared, bad bounds, k below 10 for important data, a product not in a sandbox: refused, nothing stored.
            let undeclared = try await pdxctl(["load", "--product", product.uuidString, "--file", file.path] + declared)
            #expect(undeclared.status != 0 && (undeclared.output + undeclared.error).contains("name that is not declared"), "\(undeclared)")
            let bounds = try await pdxctl(["load", "--product", product.uuidString, "--file", file.path, "--hidden", "name"] + declared.dropLast() + ["income=9..1"])
            #expect(bounds.status != 0 && (bounds.output + bounds.error).contains("lower < upper"), "\(bounds)")
            let small = try await pdxctl(["load", "--product", product.uuidString, "--file", file.path, "--hidden", "name", "--min-entities", "5"] + declared)
            #expect(small.status != 0 && (small.output + small.error).contains("min_entities must be from 10"), "\(small)")
            let api = try await pdxctl(["load", "--product", market.product.uuidString, "--file", file.path, "--hidden", "name"] + declared)
            #expect(api.status != 0 && (api.output + api.error).contains("only a product delivered in a sandbox"), "\(api)")
            #expect(try await market.store.sandboxDataset(of: product) == nil)

            let loaded = try await pdxctl(["load", "--product", product.uuidString, "--file", file.path, "--hidden", "name", "--json"] + declared)
            #expect(loaded.status == 0, "\(loaded)")
            let report = try JSONSerialization.jsonObject(with: Data(loaded.output.utf8)) as? [String: Int]
            #expect(report?["rows"] == 612 && report?["entities"] == 204 && report?["generation"] == 1, "\(loaded.output)")
            let shown = try await pdxctl(["show", "--product", product.uuidString])
            #expect(shown.status == 0 && shown.output.contains("k = 10") && shown.output.contains("epsilon budget 10.00 per month: 0.00 spent"), "\(shown)")
            #expect(shown.output.contains("person_id") && shown.output.contains("0.0..100000.0"))

            // Not listed yet: its operator and agency see the dataset, nobody else.
            let path = "/v1/products/\(product.uuidString.lowercased())/sandbox"
            #expect(try await Get.get(client, path, market.otherKey).0 == .notFound)
            #expect(try await Get.get(client, path, market.agencyKey).1["row_count"] as? Int == 612)
            try await market.store.list(product, by: .party(market.operatorParty.id))
            #expect(try await Get.get(client, path, market.otherKey).0 == .ok)
            _ = try await market.entitlement(to: product, buyer: market.demander)
            let analysis = try await market.store.submitSandboxAnalysis(product: product, entitlement: nil, spec: SandboxAnalysisSpec(
                measures: [.init(statistic: .countEntities)], groupBy: ["district"], epsilon: 0.5), buyer: market.demander.id)
            _ = try await market.store.runSandboxAnalysis(analysis.id)
            let audit = try await pdxctl(["audit", "--product", product.uuidString, "--json"])
            let rows = try JSONSerialization.jsonObject(with: Data(audit.output.utf8)) as? [[String: String]]
            #expect(rows?.count == 1 && rows?.first?["buyer_id"] == market.demander.id.uuidString.lowercased(), "\(audit)")
            #expect(rows?.first?["groups_released"] == "5" && rows?.first?["groups_suppressed"] == "1" && rows?.first?["epsilon"] == "0.5")
            #expect(rows?.first?["spec"]?.contains("district") == true)
            let table = try await pdxctl(["audit", "--party", market.agency.id.uuidString])
            #expect(table.status == 0 && table.output.contains(analysis.id.uuidString.lowercased()) && table.output.contains("done"))
        }
    }

    @Test func aReloadKeepsTheBudgetAndFailsQueuedAnalysesItNoLongerFitsWithTheirEpsilonBack() async throws {
        try await withAPI { market, client in
            let product = try await market.sandboxProduct()
            _ = try await market.entitlement(to: product, buyer: market.demander)
            #expect(try await Self.analyse(market, client, Self.body(product, measures: Self.countAndSum)).1["state"] as? String == "done")
            let (status, queued, _) = try await Get.post(client, "/v1/sandbox/analyses", market.demanderKey,
                                                         Self.body(product, measures: Self.countAndSum, groupBy: ["age"]))
            #expect(status == .accepted)
            // The operator reloads the data with age hidden: the queued analysis no longer fits.
            var columns = VisitData.columns
            columns[4] = SandboxColumn(name: "age", role: .hidden, type: .text)
            let reload = try await market.store.loadSandboxDataset(product: product, columns: columns, settings: SandboxSettings(),
                                                                   csv: VisitData(seed: 8).csv, by: market.admin)
            #expect(reload.generation == 2)
            let id = try #require(UUID(uuidString: queued["id"] as? String ?? ""))
            guard case .failed(let why) = try await market.store.runSandboxAnalysis(id) else { Issue.record("ran on a dataset it does not fit"); return }
            #expect(why.contains("reloaded") && why.contains("age is hidden"))
            // The budget survives the reload: the first analysis's epsilon stays spent, the failed one's is back.
            let dataset = try #require(try await market.store.sandboxDataset(of: product))
            #expect(dataset.epsilonSpent == 1 && dataset.generation == 2)
            // Only the new generation's table is left.
            #expect(try await market.pool.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'pdx_sandbox'").scalar(Int64.self) == 1)
            // An analysis whose job gave up ends the same way.
            let (_, another, _) = try await Get.post(client, "/v1/sandbox/analyses", market.demanderKey, Self.body(product, measures: Self.countAndSum))
            let gaveUp = try #require(UUID(uuidString: another["id"] as? String ?? ""))
            guard case .failed = try await market.store.failSandboxAnalysis(gaveUp, because: "it could not run in 3 attempts") else {
                Issue.record("not failed"); return
            }
            #expect(try await market.store.sandboxAnalysis(gaveUp).epsilonRefunded)
            #expect(try await market.store.failSandboxAnalysis(gaveUp, because: "again") == .nothingToDo)
        }
    }
}
