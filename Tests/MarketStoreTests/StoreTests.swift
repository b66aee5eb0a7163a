import Foundation
import JobQueue
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing
import MarketJobs

@Suite struct StoreTests {
    @Test func invalidCreditAndRegionCodesAreRefusedNamingTheField() async throws {
        try await withMarket { market in
            await #expect(throws: MarketInputError.self) {
                _ = try await market.store.registerParty(NewParty(kind: .demander, name: "x", creditCode: "91350100M000100Y44", regionCode: "310000"), by: Market.admin)
            }
            do {
                _ = try await market.store.registerParty(NewParty(kind: .demander, name: "x", creditCode: uniqueCreditCode(), regionCode: "990000"), by: Market.admin)
                Issue.record("a bad region code was accepted")
            } catch let error as MarketInputError {
                #expect(error.field == "region_code")
            }
            // A code already registered names the field too.
            let existing = try await market.store.party(market.demander.id).creditCode.value
            await #expect(throws: MarketInputError(field: "credit_code", rule: "is already registered")) {
                _ = try await market.store.registerParty(NewParty(kind: .demander, name: "twin", creditCode: existing, regionCode: "310000"), by: Market.admin)
            }
            // The database refuses what the store would, for writers that bypass it.
            for (code, region, constraint) in [("91350100M000100Y44", "310000", "parties_credit_code_ok"),
                                                (uniqueCreditCode(), "99000", "parties_region_code_ok")] {
                await #expect {
                    try await market.pool.execute("""
                        INSERT INTO parties (kind, name, credit_code, region_code) VALUES ('demander', 'x', \(code), \(region))
                        """)
                } throws: { ($0 as? PostgresError)?.constraint == constraint }
            }
        }
    }

    @Test func aListedProductIsNeverEditedInPlaceAChangeMakesANewVersion() async throws {
        try await withMarket { market in
            let actor = Actor.party(market.operatorA.id)
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: actor)
            try await market.store.updateDraft(product.id, with: productVersion([market.general], price: 40), by: actor)
            #expect(try await market.store.product(product.id).current.listPriceFen == 40)
            try await market.store.list(product.id, by: actor)
            await #expect(throws: TransitionRefused.self) {
                try await market.store.updateDraft(product.id, with: productVersion([market.general], price: 30), by: actor)
            }
            await #expect {
                try await market.pool.execute("UPDATE product_versions SET list_price_fen = 1 WHERE product_id = \(product.id)")
            } throws: { ($0 as? PostgresError)?.constraint == "product_versions_frozen" }
            let version = try await market.store.revise(product.id, with: productVersion([market.general], title: "路况指数 v2", price: 30), by: actor)
            #expect(version.version == 2 && version.applied, "a lower price applies at once")
            let stored = try await market.store.product(product.id)
            #expect(stored.version == 2 && stored.current.listPriceFen == 30 && stored.state == .listed)
            let prices = try await market.pool.query("""
                SELECT list_price_fen FROM product_versions WHERE product_id = \(product.id) ORDER BY version
                """).decode(Int64.self)
            #expect(prices == [40, 30])
            #expect(try await jobs(market.pool, kind: MatchProductJob.kind).count == 2)
        }
    }

    @Test func openingADemandQueuesItsMatchingJobInTheSameTransaction() async throws {
        try await withMarket { market in
            let actor = Actor.party(market.demander.id)
            let draft = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: false, by: actor)
            #expect(try await jobs(market.pool, kind: MatchDemandJob.kind).isEmpty)
            var edited = demandRequest()
            edited.budgetFen = 9_999
            try await market.store.updateDraftDemand(draft, with: edited, by: actor)
            #expect(try await market.pool.query("SELECT budget_fen FROM demands WHERE id = \(draft)").scalar(Int64.self) == 9_999)
            try await market.store.changeDemand(draft, to: .open, by: actor)
            await #expect(throws: TransitionRefused.self) { try await market.store.updateDraftDemand(draft, with: edited, by: actor) }
            let queued = try await jobs(market.pool, kind: MatchDemandJob.kind)
            #expect(queued.count == 1 && queued[0].contains(draft.uuidString))
            // A failed change rolls back its job too.
            await #expect(throws: TransitionRefused.self) { try await market.store.changeDemand(draft, to: .fulfilled, by: actor) }
            #expect(try await jobs(market.pool, kind: MatchDemandJob.kind).count == 1)
            // Bad input names the field; nothing is stored.
            var bad = demandRequest()
            bad.quantity = 0
            await #expect(throws: MarketInputError(field: "quantity", rule: "must be from 1 to 10^12")) {
                _ = try await market.store.postDemand(bad, demander: market.demander.id, open: true, by: actor)
            }
            await #expect(throws: MarketInputError.self) {
                _ = try await market.store.postDemand(demandRequest(), demander: market.agency.id, open: true, by: actor)
            }
            #expect(try await market.pool.query("SELECT count(*) FROM demands").scalar(Int.self) == 1)
        }
    }

    @Test func ofTwoConcurrentTransitionsOnlyOneWins() async throws {
        try await withMarket { market in
            let actor = Actor.party(market.demander.id)
            for _ in 0..<5 {
                let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: actor)
                let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for next in [DemandState.cancelled, .expired] {
                        group.addTask {
                            do { try await market.store.changeDemand(demand, to: next, by: actor); return true } catch is TransitionRefused { return false }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 }.count == 1)
                let stays = try await market.store.demandHistory(demand)
                #expect(stays.map(\.state) == [.open, try await market.store.demandState(demand)])
            }
        }
    }

    @Test func theTimeInEachStateOfADemandIsRecorded() async throws {
        try await withMarket { market in
            let actor = Actor.party(market.demander.id)
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: false, by: actor)
            try await Task.sleep(for: .milliseconds(200))
            try await market.store.changeDemand(demand, to: .open, by: actor)
            try await market.store.changeDemand(demand, to: .cancelled, by: actor, reason: "found elsewhere")
            let stays = try await market.store.demandHistory(demand)
            #expect(stays.map(\.state) == [.draft, .open, .cancelled])
            #expect(stays[0].seconds >= 0.19)
            #expect(try await auditActions(market.pool, subject: demand) == ["demand.post", "demand.open", "demand.cancelled"])
        }
    }

    @Test func acceptingAMatchPlacesAnOrderAtItsQuoteAndTheOrderRunsItsLifeCycle() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: seller)
            try await market.store.list(product.id, by: seller)
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: buyer)
            let quote = try Quote.atListPrice(of: product.current, quantity: 1_000, purpose: .industryDevelopment)
            let match = try await market.store.propose(NewMatch(demandID: demand, productID: product.id, productVersion: 1, score: 0.8,
                                                                reasonsJSON: #"[{"component":"fields","value":1.0}]"#, quote: quote))
            // Someone else's match does not exist for another buyer.
            await #expect(throws: MarketNotFound.self) { _ = try await market.store.accept(match: match, buyer: market.operatorB.id, by: buyer) }
            let order = try await market.store.accept(match: match, buyer: market.demander.id, by: buyer)
            #expect(order.amountFen == 50_000 && order.matchID == match && order.quote == quote)
            #expect(try await market.store.demandState(demand) == .ordered)
            await #expect(throws: TransitionRefused.self) { _ = try await market.store.accept(match: match, buyer: market.demander.id, by: buyer) }

            await #expect(throws: TransitionRefused.self) { try await market.store.changeOrder(order.id, to: .completed, reason: nil, by: buyer) }
            try await market.store.changeOrder(order.id, to: .accepted, reason: nil, by: seller)
            try await market.store.changeOrder(order.id, to: .delivered, reason: nil, by: seller)
            let ends = try await market.pool.query("SELECT entitlement_ends_at > now() + interval '364 days' FROM orders WHERE id = \(order.id)").scalar(Bool.self)
            #expect(ends == true)
            try await market.store.changeOrder(order.id, to: .completed, reason: nil, by: buyer)
            #expect(try await market.store.order(order.id).state == .completed)
            #expect(try await market.store.demandState(demand) == .fulfilled)
            #expect(try await auditActions(market.pool, subject: order.id) == ["order.place", "order.accepted", "order.delivered", "order.completed"])
        }
    }

    @Test func decliningEveryProposalOpensTheDemandAgain() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: seller)
            try await market.store.list(product.id, by: seller)
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: buyer)
            let quote = try Quote.atListPrice(of: product.current, quantity: 1_000, purpose: .industryDevelopment)
            let match = try await market.store.propose(NewMatch(demandID: demand, productID: product.id, productVersion: 1, score: 0.5, quote: quote))
            #expect(try await market.store.demandState(demand) == .matched)
            try await market.store.decline(match: match, buyer: market.demander.id, reason: "too coarse", by: buyer)
            #expect(try await market.store.demandState(demand) == .open)
            await #expect {
                try await market.store.decline(match: match, buyer: market.demander.id, reason: nil, by: buyer)
            } throws: { ($0 as? TransitionRefused)?.to == "declined" }
        }
    }
}
