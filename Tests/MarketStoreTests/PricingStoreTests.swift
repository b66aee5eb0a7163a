import Foundation
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing

@Suite struct PricingStoreTests {
    let year = Date() + 365 * 86_400

    func listed(_ market: Market, price: Int64 = 50) async throws -> StoredProduct {
        let product = try await market.store.createProduct(productVersion([market.general], price: price), operator: market.operatorA.id,
                                                           authorization: market.grantA.id, by: .party(market.operatorA.id))
        try await market.store.list(product.id, by: .party(market.operatorA.id))
        return product
    }

    @Test func aListPriceAboveTheCapIsRefusedAtListingAndALowerCapClampsQuotes() async throws {
        try await withMarket { market in
            let cap = try await market.store.addPricingRule(.cap(maxUnitPriceFen: 40), scope: .init(sector: "transport", region: Market.shanghai),
                                                            reviewBy: year, author: "li.wei", reason: "2026 transport cap")
            let draft = try await market.store.createProduct(productVersion([market.general], price: 50), operator: market.operatorA.id,
                                                             authorization: market.grantA.id, by: .party(market.operatorA.id))
            #expect(await violatedRule { try await market.store.list(draft.id, by: .party(market.operatorA.id)) } == .capExceeded)
            let product = try await listed(market, price: 40)
            // Lowering the cap applies at once and clamps quotes.
            try await market.store.setPricingRule(cap.id, kind: .cap(maxUnitPriceFen: 30), scope: cap.scope, reviewBy: year,
                                                  author: "li.wei", reason: "cost review lowered the cap")
            let quote = try await market.store.quote(product: product.id, quantity: 10, purpose: .industryDevelopment, buyer: market.demander.id)
            #expect(quote.amountFen == 300)
            #expect(quote.rules == [.init(id: cap.id, version: 2)])
            #expect(quote.lines.map(\.step) == ["list_price", "cap"])
            // Public welfare pays nothing once the buyer is a verified public institution (self-declared, it pays).
            #expect(try await market.store.quote(product: product.id, quantity: 10, purpose: .publicWelfare, buyer: market.demander.id).amountFen == 300)
            _ = try await market.store.verifyParty(market.demander.id, as: .publicInstitution, evidence: "事业单位法人证书", expiresAt: Date() + 86_400,
                                                   by: Market.admin)
            #expect(try await market.store.quote(product: product.id, quantity: 10, purpose: .publicWelfare, buyer: market.demander.id).amountFen == 0)
        }
    }

    @Test func increasesWaitForTheNoticePeriodDecreasesApplyAtOnce() async throws {
        try await withMarket { market in
            let product = try await listed(market)
            let discount = try await market.store.addPricingRule(.smallMicroDiscount(permille: 200), reviewBy: year, author: "li.wei", reason: "SME support")
            // A smaller discount raises prices: deferred thirty days, or refused when asked for sooner.
            let deferred = try await market.store.setPricingRule(discount.id, kind: .smallMicroDiscount(permille: 100), scope: .init(),
                                                                 reviewBy: year + 86_400 * 60, author: "li.wei", reason: "budget")
            #expect(deferred.effectiveAt > Date() + 29 * 86_400)
            await #expect(throws: MarketInputError.self) {
                _ = try await market.store.setPricingRule(discount.id, kind: .smallMicroDiscount(permille: 50), scope: .init(), reviewBy: year,
                                                          effectiveAt: Date() + 86_400, author: "li.wei", reason: "too soon")
            }
            // Meanwhile version 1 still prices; a larger discount (a decrease) applies at once.
            let smallFirm = try await market.store.registerParty(NewParty(kind: .demander, name: "小店 corner shop", creditCode: uniqueCreditCode(),
                                                                          regionCode: "310000"), by: Market.admin)
            // Unverified, the class earns nothing; verified, it does, and the quote names the verification.
            #expect(try await market.store.quote(product: product.id, quantity: 100, purpose: .industryDevelopment, buyer: smallFirm.id).amountFen == 5_000)
            let verified = try await market.store.verifyParty(smallFirm.id, as: .smallMicro, evidence: "MIIT 2026-031", expiresAt: Date() + 86_400 * 90,
                                                              by: Market.admin)
            let before = try await market.store.order(product: product.id, quantity: 100, purpose: .industryDevelopment, buyer: smallFirm.id, scenario: "traffic_planning",
                                                      by: .party(smallFirm.id))
            #expect(before.amountFen == 4_000 && before.quote.rules == [.init(id: discount.id, version: 1)])
            #expect(before.quote.lines.last?.detail.contains(verified.verification.id.uuidString.lowercased()) == true, "\(before.quote.lines)")
            _ = try await market.store.setPricingRule(discount.id, kind: .smallMicroDiscount(permille: 500), scope: .init(), reviewBy: year,
                                                      author: "li.wei", reason: "relief")
            let after = try await market.store.quote(product: product.id, quantity: 100, purpose: .industryDevelopment, buyer: smallFirm.id)
            #expect(after.amountFen == 2_500)
            // The order keeps the price it was placed with.
            #expect(try await market.store.order(before.id).amountFen == 4_000)
            let history = try await market.store.pricingRuleHistory(discount.id)
            #expect(history.map(\.rule.version) == [1, 2, 3] && history.map(\.reason) == ["SME support", "budget", "relief"])
        }
    }

    @Test func versionsAreHistoryAndRetiringStopsARule() async throws {
        try await withMarket { market in
            let product = try await listed(market)
            let cap = try await market.store.addPricingRule(.cap(maxUnitPriceFen: 10), reviewBy: year, author: "li.wei", reason: "cap")
            await #expect {
                try await market.pool.execute("UPDATE pricing_rule_versions SET reason = 'rewritten'")
            } throws: { ($0 as? PostgresError)?.constraint == "pricing_rule_versions_append_only" }
            #expect(try await market.store.quote(product: product.id, quantity: 1, purpose: .industryDevelopment, buyer: market.demander.id).amountFen == 10)
            await #expect(throws: MarketInputError.self) { try await market.store.retirePricingRule(cap.id, author: "li.wei", reason: " ") }
            // Taking a cap away raises the price it clamped: the retirement waits for the notice period.
            let retiredAt = try await market.store.retirePricingRule(cap.id, author: "li.wei", reason: "superseded by the national cap")
            #expect(retiredAt > Date() + 29 * 86_400)
            #expect(try await market.store.quote(product: product.id, quantity: 1, purpose: .industryDevelopment, buyer: market.demander.id).amountFen == 10)
            // Its time comes (moved here into the past), and the rule stops applying.
            try await market.pool.execute("UPDATE pricing_rules SET retired_at = now() - interval '1 second' WHERE id = \(cap.id)")
            #expect(try await market.store.quote(product: product.id, quantity: 1, purpose: .industryDevelopment, buyer: market.demander.id).amountFen == 50)
            await #expect(throws: TransitionRefused.self) {
                _ = try await market.store.setPricingRule(cap.id, kind: .cap(maxUnitPriceFen: 5), scope: .init(), reviewBy: year, author: "li.wei", reason: "x")
            }
            let actions = try await market.pool.query("""
                SELECT action || ' by ' || actor FROM audit_events WHERE subject_type = 'pricing_rule' ORDER BY id
                """).decode(String.self)
            #expect(actions == ["pricing.add by admin:li.wei", "pricing.retire by admin:li.wei"])
        }
    }
}

@Suite struct RepricingTests {
    @Test func aRuleChangeRepricesProposedMatchesWithdrawsThoseOverBudgetAndLeavesOrdersAlone() async throws {
        try await withMarket { market in
            let year = Date() + 365 * 86_400
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            let product = try await market.store.createProduct(productVersion([market.general], price: 50), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: seller)
            try await market.store.list(product.id, by: seller)
            // Two demands for 1,000 units: one can afford 50,000 fen, the other only 30,000.
            var rich = demandRequest(budget: 50_000), poor = demandRequest(budget: 30_000)
            rich.title = "rich"; poor.title = "poor"
            let richDemand = try await market.store.postDemand(rich, demander: market.demander.id, open: true, by: buyer)
            let poorDemand = try await market.store.postDemand(poor, demander: market.demander.id, open: true, by: buyer)
            let ordered = try await market.store.order(product: product.id, quantity: 1_000, purpose: .industryDevelopment, buyer: market.demander.id, scenario: "traffic_planning", by: buyer)
            let cap = try await market.store.addPricingRule(.cap(maxUnitPriceFen: 25), reviewBy: year, author: "li.wei", reason: "cap")
            var matches: [UUID] = []
            for demand in [richDemand, poorDemand] {
                let quote = try await market.store.quote(product: product.id, quantity: 1_000, purpose: .industryDevelopment, buyer: market.demander.id)
                matches.append(try await market.store.propose(NewMatch(demandID: demand, productID: product.id, productVersion: 1, score: 0.7, quote: quote)))
            }
            // The cap is raised to 40: an increase, so it waits for the notice period and changes nothing now.
            // Once in force, repricing finds 40,000 fen: within the rich budget, above the poor one.
            _ = try await market.store.setPricingRule(cap.id, kind: .cap(maxUnitPriceFen: 40), scope: .init(), reviewBy: year,
                                                      effectiveAt: Date() + 31 * 86_400, author: "li.wei", reason: "cost update")
            #expect(try await market.store.repriceProposedMatches().repriced == 0, "not in force yet")
            // Thirty-one days later (the clock cannot move here: the version is written again with its time come).
            try await market.pool.execute("""
                INSERT INTO pricing_rule_versions (rule_id, version, parameters, effective_at, review_by, author, reason)
                SELECT rule_id, 3, parameters, now() - interval '1 second', review_by, author, reason
                FROM pricing_rule_versions WHERE rule_id = \(cap.id) AND version = 2
                """)
            let result = try await market.store.repriceProposedMatches()
            #expect(result.repriced == 2)
            #expect(result.withdrawn == [matches[1]])
            let states = try await market.pool.query("SELECT state::text, quote_fen FROM matches ORDER BY demand_id = \(richDemand) DESC")
                .decode(String.self, Int64.self)
            #expect(states.map(\.0) == ["proposed", "withdrawn"] && states.map(\.1) == [40_000, 40_000])
            #expect(try await market.store.demandState(poorDemand) == .open)
            #expect(try await market.store.order(ordered.id).amountFen == 50_000)
            // Every change enqueued a repricing job (the deferred one for its effective time).
            let jobs = try await market.pool.query("SELECT state::text FROM pdx_jobs WHERE kind = 'reprice_matches' ORDER BY id").decode(String.self)
            #expect(jobs == ["available", "scheduled"])
        }
    }
}

@Suite struct RevenueTests {
    @Test func revenueAboveTheAllowanceIsReportedAndDeductedNextYear() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            let product = try await market.store.createProduct(productVersion([market.general], price: 100), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: seller)
            try await market.store.list(product.id, by: seller)
            // Revenue is what closed months billed: the month before this one ("this year") and the same month a year earlier.
            let month = BillingPeriod(containing: try await market.store.now()).previous
            let earlier = try BillingPeriod(year: month.year - 1, month: month.month)
            let thisYear = month.year
            // Last year: 1,500 fen billed against 1,000 allowed; this year: 800 billed, 1,000 allowed less 500.
            for (units, period) in [(15, Optional(earlier)), (8, Optional(month)), (3, nil)] {
                let order = try await market.store.order(product: product.id, quantity: 100, purpose: .industryDevelopment,
                                                         buyer: market.demander.id, scenario: "traffic_planning", by: buyer)
                try await market.store.changeOrder(order.id, to: .accepted, reason: nil, by: seller)
                guard let period else { continue }  // accepted, never delivered: not revenue
                try await market.store.changeOrder(order.id, to: .delivered, reason: nil, by: seller)
                try await market.pool.execute("UPDATE entitlements SET starts_at = \(period.start) WHERE order_id = \(order.id)")
                let entitlement = try #require(try await market.pool.query("SELECT id FROM entitlements WHERE order_id = \(order.id)").scalar(UUID.self))
                let receipt = try await market.store.recordUsage([UsageEvent(eventID: "e-\(units)", entitlementID: entitlement, units: Int64(units),
                                                                             occurredAt: period.start + 3600)], seller: market.operatorA.id)
                #expect(receipt.accepted == 1)
            }
            try await market.store.closePeriods(through: month, by: "li.wei")
            try await market.store.setRevenueAllowance(operator: market.operatorA.id, year: thisYear - 1, allowanceFen: 1_000, author: "li.wei", reason: "approved")
            try await market.store.setRevenueAllowance(operator: market.operatorA.id, year: thisYear, allowanceFen: 1_000, author: "li.wei", reason: "approved")
            let last = try await market.store.revenueReport(year: thisYear - 1).first { $0.operatorID == market.operatorA.id }!
            #expect(last.revenueFen == 1_500 && last.overageFen == 500)
            let now = try await market.store.revenueReport(year: thisYear).first { $0.operatorID == market.operatorA.id }!
            #expect(now.deductionFen == 500 && now.effectiveAllowanceFen == 500 && now.revenueFen == 800 && now.overageFen == 300)
            let other = try await market.store.revenueReport(year: thisYear).first { $0.operatorID == market.operatorB.id }!
            #expect(other.allowanceFen == nil && other.revenueFen == 0)
            await #expect(throws: MarketInputError.self) {
                try await market.store.setRevenueAllowance(operator: market.operatorA.id, year: thisYear, allowanceFen: -1, author: "li.wei", reason: "x")
            }
            // The command prints the same.
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            let report = try await runBuilt("pdxctl", ["revenue", "--year", "\(thisYear)", "--json", "--database-url", url])
            #expect(report.status == 0, "\(report.error)")
            #expect(report.output.contains("\"overage_fen\" : 300"), "snake_case keys, as the API's: \(report.output)")
            #expect(report.output.contains(market.operatorA.id.uuidString.lowercased()), "lower-case ids")
        }
    }
}

@Suite struct DisclosureTests {
    @Test func theDisclosureListsCapsProductsAndRevenueAsCSVAndJSON() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id)
            let product = try await market.store.createProduct(productVersion([market.general], title: "路况, \"实时\" traffic", price: 30),
                                                               operator: market.operatorA.id, authorization: market.grantA.id, by: seller)
            try await market.store.list(product.id, by: seller)
            _ = try await market.store.addPricingRule(.cap(maxUnitPriceFen: 40), scope: .init(sector: "transport"), reviewBy: Date() + 86_400 * 365,
                                                      author: "li.wei", reason: "cap")
            let year = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).year!
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pdx-disclosure-\(UUID())")
            defer { try? FileManager.default.removeItem(at: folder) }
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            let result = try await runBuilt("pdxctl", ["report", "disclosure", "--year", "\(year)", "--output", folder.path, "--database-url", url])
            #expect(result.status == 0, "\(result.error)")
            let caps = try String(contentsOf: folder.appendingPathComponent("caps.csv"), encoding: .utf8)
            #expect(caps.contains(",40,transport,"))
            let products = try String(contentsOf: folder.appendingPathComponent("products.csv"), encoding: .utf8)
            #expect(products.contains(#""路况, ""实时"" traffic""#) && products.contains(",30,listed"), "\(products)")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("disclosure.json"))) as? [String: Any]
            #expect((json?["revenue"] as? [Any])?.count == 2)
            #expect(try String(contentsOf: folder.appendingPathComponent("revenue.csv"), encoding: .utf8).hasPrefix("operator,year,allowance_fen"))
        }
    }
}
