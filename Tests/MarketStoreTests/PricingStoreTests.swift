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
            // Public welfare pays nothing.
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
                                                                          regionCode: "310000", smallOrMicro: true), by: Market.admin)
            let before = try await market.store.order(product: product.id, quantity: 100, purpose: .industryDevelopment, buyer: smallFirm.id,
                                                      by: .party(smallFirm.id))
            #expect(before.amountFen == 4_000 && before.quote.rules == [.init(id: discount.id, version: 1)])
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
            try await market.store.retirePricingRule(cap.id, author: "li.wei", reason: "superseded by the national cap")
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
            let ordered = try await market.store.order(product: product.id, quantity: 1_000, purpose: .industryDevelopment, buyer: market.demander.id, by: buyer)
            let cap = try await market.store.addPricingRule(.cap(maxUnitPriceFen: 25), reviewBy: year, author: "li.wei", reason: "cap")
            var matches: [UUID] = []
            for demand in [richDemand, poorDemand] {
                let quote = try await market.store.quote(product: product.id, quantity: 1_000, purpose: .industryDevelopment, buyer: market.demander.id)
                matches.append(try await market.store.propose(NewMatch(demandID: demand, productID: product.id, productVersion: 1, score: 0.7, quote: quote)))
            }
            // The cap is raised to 40: an increase, so it waits for the notice period and changes nothing now.
            // (The clock cannot be moved here, so the raise is then made at once by retiring and re-adding.) Once in force,
            // repricing finds 40,000 fen: within the rich budget, above the poor one.
            _ = try await market.store.setPricingRule(cap.id, kind: .cap(maxUnitPriceFen: 40), scope: .init(), reviewBy: year,
                                                      effectiveAt: Date() + 31 * 86_400, author: "li.wei", reason: "cost update")
            #expect(try await market.store.repriceProposedMatches().repriced == 0, "not in force yet")
            try await market.store.retirePricingRule(cap.id, author: "li.wei", reason: "replaced")
            _ = try await market.store.addPricingRule(.cap(maxUnitPriceFen: 40), reviewBy: year, author: "li.wei", reason: "new cap")
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
            #expect(jobs == ["available", "scheduled", "available", "available"])
        }
    }
}
