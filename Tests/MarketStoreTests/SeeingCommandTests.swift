import Foundation
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// `pdxctl resources` and `pdxctl demand history|gaps --agency` as an administrator runs them.
@Suite struct SeeingCommandTests {
    @Test func anAdministratorRecordsDeIdentificationAndReadsAHistory() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", arguments + ["--database-url", url])
            }
            let resource = market.personal.id.uuidString.lowercased()
            let before = try await pdxctl("resources", "show", resource)
            #expect(before.status == 0 && before.output.contains("not de-identified"), "\(before)")
            // Refused in the future, naming the option's field; nothing recorded.
            let future = try await pdxctl("resources", "deidentify", resource, "--method", "k-anonymity", "--performed-by", "office",
                                          "--performed-at", "2099-01-01")
            #expect(future.status != 0 && future.error.contains("performed_at"), "\(future)")
            #expect(try await market.store.resource(market.personal.id)?.deidentification == nil)
            let recorded = try await pdxctl("resources", "deidentify", resource, "--method", "删除直接标识符 direct identifiers removed",
                                            "--performed-by", "数据安全部", "--performed-at", "2026-11-30", "--evidence", "DO-2026-118",
                                            "--actor", "li.wei", "--json")
            #expect(recorded.status == 0, "\(recorded.error)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(recorded.output.utf8)) as? [String: Any])
            let step = try #require(json["deidentification"] as? [String: Any])
            #expect(step["performed_by"] as? String == "数据安全部" && step["evidence"] as? String == "DO-2026-118")
            let stored = try #require(try await market.store.resource(market.personal.id))
            #expect(stored.deidentification?.method == "删除直接标识符 direct identifiers removed"
                    && stored.deidentifiedAt == ISO8601DateFormatter().date(from: "2026-11-30T00:00:00Z"))
            let audited = try await market.pool.query("""
                SELECT count(*) FROM audit_events WHERE action = 'resource.deidentify' AND subject_id = \(resource) AND actor = 'admin:li.wei'
                """).scalar(Int64.self)
            #expect(audited == 1)
            // Now a product may use it.
            _ = try await market.store.createProduct(productVersion([market.personal]), operator: market.operatorA.id, authorization: market.grantA.id,
                                                     by: .party(market.operatorA.id))

            // A demand's history, and unmet demand for one agency.
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: false, by: .party(market.demander.id))
            try await market.store.changeDemand(demand, to: .open, by: .party(market.demander.id))
            let history = try await pdxctl("demand", "history", demand.uuidString.lowercased())
            #expect(history.status == 0 && history.output.contains("draft") && history.output.contains("now, for"), "\(history)")
            let missing = try await pdxctl("demand", "history", UUID().uuidString)
            #expect(missing.status != 0)
            let gaps = try await pdxctl("demand", "gaps", "--agency", market.agency.id.uuidString.lowercased(), "--json")
            #expect(gaps.status == 0, "\(gaps.error)")
            let groups = try #require(try JSONSerialization.jsonObject(with: Data(gaps.output.utf8)) as? [[String: Any]])
            #expect(groups.count == 1 && groups.first?["sector"] as? String == "transport" && groups.first?["open"] as? Int == 1, "\(groups)")
            let notAgency = try await pdxctl("demand", "gaps", "--agency", market.demander.id.uuidString.lowercased())
            #expect(notAgency.status != 0 && notAgency.error.contains("must name an agency"), "\(notAgency)")
        }
    }
}
