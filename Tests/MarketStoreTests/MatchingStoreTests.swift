import Foundation
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing

@Suite struct MatchingStoreTests {
    @Test func aDemandIsProposedTheBestProductsWithinTheHardRulesWithReasons() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            func listed(_ version: ProductVersion) async throws -> UUID {
                let product = try await market.store.createProduct(version, operator: market.operatorA.id, authorization: market.grantA.id, by: seller)
                try await market.store.list(product.id, by: seller)
                return product.id
            }
            let best = try await listed(productVersion([market.general], title: "物流路径优化路况 route optimisation traffic"))
            var partial = productVersion([market.general], title: "路况 traffic")
            partial.fields = ["road_id", "volume"]
            let second = try await listed(partial)
            let tooDear = try await listed(productVersion([market.general], title: "物流路径优化路况 premium", price: 5_000))
            var fileOnly = productVersion([market.general], modes: [.file])
            fileOnly.title = "物流路径优化 files"
            let wrongMode = try await listed(fileOnly)
            let demand = try await market.store.postDemand(demandRequest(budget: 100_000), demander: market.demander.id, open: true, by: buyer)

            let result = try await market.store.matchDemand(demand)
            #expect(result.candidates == 3, "the file-only product is not even a candidate")
            let proposals = try await market.pool.query("""
                SELECT product_id, score, reasons::text FROM matches WHERE demand_id = \(demand) ORDER BY score DESC, product_id
                """).decode(UUID.self, Double.self, String.self)
            #expect(proposals.map(\.0) == [best, second], "the one over budget and the file-only one are excluded")
            #expect(!proposals.map(\.0).contains(tooDear) && !proposals.map(\.0).contains(wrongMode))
            #expect(proposals[0].1 > proposals[1].1)
            #expect(proposals[0].2.contains("fields") && proposals[0].2.contains("offers 2 of the 2 fields wanted"))
            #expect(try await market.store.demandState(demand) == .matched)
            // Matching again proposes nothing twice.
            #expect(try await market.store.matchDemand(demand).proposed.isEmpty)
        }
    }
}

@Suite struct ProductMatchingTests {
    @Test func aNewProductIsOfferedToTheOpenDemandsItServes() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            let served = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: buyer)
            var sandboxOnly = demandRequest()
            sandboxOnly.deliveryModes = [.sandbox]
            let unserved = try await market.store.postDemand(sandboxOnly, demander: market.demander.id, open: true, by: buyer)
            let poor = try await market.store.postDemand(demandRequest(budget: 10), demander: market.demander.id, open: true, by: buyer)
            let draft = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: false, by: buyer)
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: seller)
            #expect(try await market.store.matchProduct(product.id).isEmpty, "a draft is offered to no one")
            try await market.store.list(product.id, by: seller)
            let proposed = try await market.store.matchProduct(product.id)
            let demands = try await market.pool.query("SELECT demand_id FROM matches WHERE id = ANY(\(proposed))").decode(UUID.self)
            #expect(demands == [served])
            #expect(![unserved, poor, draft].contains(where: demands.contains))
            #expect(try await market.store.matchProduct(product.id).isEmpty, "never proposed twice")
        }
    }
}
