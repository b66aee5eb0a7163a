import Foundation
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// `pdxctl pricing` run as an administrator runs it, against real PostgreSQL.
@Suite struct PricingCommandTests {
    @Test func addListPreviewSetHistoryRetireEndToEnd() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            let product = try await market.store.createProduct(productVersion([market.general], price: 50), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: .party(market.operatorA.id))
            try await market.store.list(product.id, by: .party(market.operatorA.id))
            func pdxctl(_ arguments: String...) throws -> (status: Int32, output: String, error: String) {
                try runBuilt("pdxctl", ["pricing"] + arguments + ["--database-url", url])
            }
            let added = try pdxctl("add", "cap", "--max-unit-price-fen", "40", "--sector", "transport", "--review-by", "2030-01-01",
                                   "--reason", "2026 transport cap", "--actor", "li.wei")
            #expect(added.status == 0, "\(added.error)")
            #expect(added.output.contains("added pricing rule"))
            let list = try pdxctl("list")
            #expect(list.output.contains("at most 40 fen per unit") && list.output.contains("transport"))
            let preview = try pdxctl("preview", "--product", product.id.uuidString, "--quantity", "1000", "--purpose", "industry_development",
                                     "--buyer", market.demander.id.uuidString)
            #expect(preview.status == 0, "\(preview.error)")
            #expect(preview.output.contains("total: 40000 fen (400.00 yuan)"), "\(preview.output)")
            #expect(preview.output.contains("cap"))
            let welfare = try pdxctl("preview", "--product", product.id.uuidString, "--quantity", "1000", "--purpose", "public_welfare",
                                     "--buyer", market.demander.id.uuidString)
            #expect(welfare.output.contains("public_interest_free") && welfare.output.contains("total: 0 fen"), "\(welfare.output)")
            let id = try #require(try await market.pool.query("SELECT max(id) FROM pricing_rules").scalar(Int64.self))
            // Raising the cap waits for the notice period.
            let raised = try pdxctl("set", "\(id)", "--max-unit-price-fen", "60", "--sector", "transport", "--review-by", "2030-01-01",
                                    "--reason", "cost update")
            #expect(raised.status == 0, "\(raised.error)")
            let history = try pdxctl("history", "\(id)")
            #expect(history.output.contains("2026 transport cap") && history.output.contains("cost update"))
            // Destructive without a terminal needs --yes.
            let refused = try pdxctl("retire", "\(id)", "--reason", "superseded")
            #expect(refused.status != 0 && refused.error.contains("--yes"))
            #expect(try pdxctl("retire", "\(id)", "--reason", "superseded", "--yes").status == 0)
            #expect(try pdxctl("list").output.contains("no pricing rules in force"))
        }
    }

    @Test func badArgumentsNameTheArgumentAndWhatIsAccepted() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            let cases: [([String], String)] = [
                (["add", "ceiling", "--review-by", "2030-01-01", "--reason", "x"], "the kind must be one of cap, exemption"),
                (["add", "cap", "--review-by", "2030-01-01", "--reason", "x"], "cap needs --max-unit-price-fen"),
                (["add", "cap", "--max-unit-price-fen", "5", "--review-by", "soon", "--reason", "x"], "--review-by must be a date"),
                (["add", "cap", "--max-unit-price-fen", "5", "--review-by", "2030-01-01"], "--reason"),
                (["add", "tiers", "--band", "1-10", "--review-by", "2030-01-01", "--reason", "x"], "--band must look like"),
                (["add", "cap", "--max-unit-price-fen", "5", "--region", "99", "--review-by", "2030-01-01", "--reason", "x"], "--region must be a six-digit"),
                (["preview", "--product", "x", "--quantity", "1", "--purpose", "public_welfare", "--buyer", UUID().uuidString], "--product must be a UUID"),
                (["preview", "--product", UUID().uuidString, "--quantity", "1", "--purpose", "charity", "--buyer", UUID().uuidString], "--purpose must be one of"),
                (["history", "999"], "no pricing rule 999"),
            ]
            for (arguments, message) in cases {
                let result = try runBuilt("pdxctl", ["pricing"] + arguments + ["--database-url", url])
                // 64 (EX_USAGE) for a bad argument; 1 for a well-formed request the database refuses.
                #expect(result.status == (arguments[0] == "history" ? 1 : 64), "\(arguments): \(result.status)")
                #expect(result.error.contains(message), "\(arguments): \(result.error)")
            }
        }
    }
}
