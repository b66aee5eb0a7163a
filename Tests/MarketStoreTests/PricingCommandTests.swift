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
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", ["pricing"] + arguments + ["--database-url", url])
            }
            let added = try await pdxctl("add", "cap", "--max-unit-price-fen", "40", "--sector", "transport", "--review-by", "2030-01-01",
                                   "--reason", "2026 transport cap", "--actor", "li.wei")
            #expect(added.status == 0, "\(added.error)")
            #expect(added.output.contains("added pricing rule"))
            let list = try await pdxctl("list")
            #expect(list.output.contains("at most 40 fen per unit") && list.output.contains("transport"))
            let preview = try await pdxctl("preview", "--product", product.id.uuidString, "--quantity", "1000", "--purpose", "industry_development",
                                     "--buyer", market.demander.id.uuidString)
            #expect(preview.status == 0, "\(preview.error)")
            #expect(preview.output.contains("total: 40000 fen (400.00 yuan)"), "\(preview.output)")
            #expect(preview.output.contains("cap"))
            // Public welfare is free for a verified public institution; self-declared, it is priced, saying why.
            let declared = try await pdxctl("preview", "--product", product.id.uuidString, "--quantity", "1000", "--purpose", "public_welfare",
                                            "--buyer", market.demander.id.uuidString)
            #expect(declared.output.contains("public_interest_unverified") && !declared.output.contains("total: 0 fen"), "\(declared.output)")
            _ = try await market.store.verifyParty(market.demander.id, as: .publicInstitution, evidence: "事业单位法人证书", expiresAt: Date() + 86_400,
                                                   by: Market.admin)
            let welfare = try await pdxctl("preview", "--product", product.id.uuidString, "--quantity", "1000", "--purpose", "public_welfare",
                                     "--buyer", market.demander.id.uuidString)
            #expect(welfare.output.contains("public_interest_free") && welfare.output.contains("total: 0 fen"), "\(welfare.output)")
            let id = try #require(try await market.pool.query("SELECT max(id) FROM pricing_rules").scalar(Int64.self))
            // Raising the cap waits for the notice period.
            let raised = try await pdxctl("set", "\(id)", "--max-unit-price-fen", "60", "--sector", "transport", "--review-by", "2030-01-01",
                                    "--reason", "cost update")
            #expect(raised.status == 0, "\(raised.error)")
            let history = try await pdxctl("history", "\(id)")
            #expect(history.output.contains("2026 transport cap") && history.output.contains("cost update"))
            // Destructive without a terminal needs --yes.
            let refused = try await pdxctl("retire", "\(id)", "--reason", "superseded")
            #expect(refused.status != 0 && refused.error.contains("--yes"))
            // The cap clamps the listed product's price: taking it away waits for the notice period.
            let retired = try await pdxctl("retire", "\(id)", "--reason", "superseded", "--yes")
            #expect(retired.status == 0 && retired.output.contains("retires on"), "\(retired.output)")
            #expect(try await pdxctl("list").output.contains("at most 40 fen per unit"), "in force until its retirement")
        }
    }

    /// `pdxctl pricing set` as its own `--help` example writes it: the scope stays the previous
    /// version's (a one-product cap stays one product's), and a lower cap applies at once.
    @Test func setKeepsTheScopeUnlessGivenAgainAndADecreaseAppliesAtOnce() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", ["pricing"] + arguments + ["--database-url", url])
            }
            let capped = try await market.listedProduct(productVersion([market.general], title: "甲 capped", price: 80))
            let other = try await market.listedProduct(productVersion([market.general], title: "乙 other", price: 80))
            func preview(_ product: StoredProduct) async throws -> String {
                try await pdxctl("preview", "--product", product.id.uuidString, "--quantity", "1", "--purpose", "industry_development",
                           "--buyer", market.demander.id.uuidString).output
            }
            let added = try await pdxctl("add", "cap", "--max-unit-price-fen", "60", "--product", capped.id.uuidString, "--review-by", "2030-01-01",
                                   "--reason", "one product's cap")
            #expect(added.status == 0, "\(added.error)")
            let id = try #require(try await market.pool.query("SELECT max(id) FROM pricing_rules").scalar(Int64.self))
            let set = try await pdxctl("set", "\(id)", "--max-unit-price-fen", "50", "--review-by", "2030-01-01", "--reason", "lower")
            #expect(set.status == 0, "\(set.error)")
            #expect(set.output.contains("product \(capped.id.uuidString.lowercased())"), "the kept scope is shown: \(set.output)")
            let cappedPreview = try await preview(capped), otherPreview = try await preview(other)
            #expect(cappedPreview.contains("total: 50 fen"), "a decrease applies at once: \(cappedPreview)")
            #expect(otherPreview.contains("total: 80 fen"), "the cap did not spread to everything: \(otherPreview)")
            let scope = try await market.pool.query("""
                SELECT product_id FROM pricing_rule_versions WHERE rule_id = \(id) ORDER BY version DESC LIMIT 1
                """).scalar(UUID?.self) ?? nil
            #expect(scope == capped.id)
        }
    }

    /// Changing a rule's scope is shown (from, to) and needs confirmation.
    @Test func aScopeChangeIsShownAndMustBeConfirmed() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", ["pricing"] + arguments + ["--database-url", url])
            }
            let product = try await market.listedProduct()
            #expect(try await pdxctl("add", "cap", "--max-unit-price-fen", "60", "--product", product.id.uuidString, "--review-by", "2030-01-01",
                               "--reason", "cap").status == 0)
            let id = try #require(try await market.pool.query("SELECT max(id) FROM pricing_rules").scalar(Int64.self))
            let unconfirmed = try await pdxctl("set", "\(id)", "--max-unit-price-fen", "60", "--sector", "transport", "--review-by", "2030-01-01",
                                         "--reason", "the whole sector")
            #expect(unconfirmed.status != 0)
            #expect(unconfirmed.error.contains("product \(product.id.uuidString.lowercased())") && unconfirmed.error.contains("transport")
                    && unconfirmed.error.contains("--yes"), "\(unconfirmed.error)")
            #expect(try await market.store.pricingRuleHistory(id).count == 1, "nothing changed")
            let confirmed = try await pdxctl("set", "\(id)", "--max-unit-price-fen", "60", "--sector", "transport", "--review-by", "2030-01-01",
                                       "--reason", "the whole sector", "--yes")
            #expect(confirmed.status == 0, "\(confirmed.error)")
            #expect(try await market.store.pricingRuleHistory(id).last?.rule.scope == PricingRule.Scope(sector: "transport"))
            let everything = try await pdxctl("set", "\(id)", "--max-unit-price-fen", "60", "--unscoped", "--review-by", "2030-01-01",
                                        "--reason", "everything", "--yes")
            #expect(everything.status == 0, "\(everything.error)")
            #expect(try await market.store.pricingRuleHistory(id).last?.rule.scope == PricingRule.Scope())
        }
    }

    /// Retiring a cap that clamps a price, or a notice period of zero, never raises a price at once.
    @Test func neitherARetirementNorAShortNoticeRaisesAPriceAtOnce() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", ["pricing"] + arguments + ["--database-url", url])
            }
            let product = try await market.listedProduct(productVersion([market.general], price: 1_000))
            func total() async throws -> String {
                try await pdxctl("preview", "--product", product.id.uuidString, "--quantity", "1", "--purpose", "industry_development",
                           "--buyer", market.demander.id.uuidString).output
            }
            #expect(try await pdxctl("add", "cap", "--max-unit-price-fen", "400", "--product", product.id.uuidString, "--review-by", "2030-01-01",
                               "--reason", "cap").status == 0)
            let id = try #require(try await market.pool.query("SELECT max(id) FROM pricing_rules").scalar(Int64.self))
            let raised = try await pdxctl("set", "\(id)", "--max-unit-price-fen", "800", "--notice-days", "0", "--review-by", "2030-01-01",
                                    "--reason", "at once")
            #expect(raised.status != 0, "a zero notice period is refused: \(raised.output)")
            #expect(try await total().contains("total: 400 fen"))
            let retired = try await pdxctl("retire", "\(id)", "--reason", "superseded", "--yes")
            #expect(retired.status == 0, "\(retired.error)")
            let after = try await total()
            #expect(after.contains("total: 400 fen"), "the cap clamps until the retirement's notice ends: \(after)")
            #expect(retired.output.contains("notice"), "\(retired.output)")
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
                let result = try await runBuilt("pdxctl", ["pricing"] + arguments + ["--database-url", url])
                // 64 (EX_USAGE) for a bad argument; 1 for a well-formed request the database refuses.
                #expect(result.status == (arguments[0] == "history" ? 1 : 64), "\(arguments): \(result.status)")
                #expect(result.error.contains(message), "\(arguments): \(result.error)")
            }
        }
    }
}
