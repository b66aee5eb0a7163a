import Foundation
import Market
import Testing

@Suite struct MatchingTests {
    let shanghai = try! RegionCode("310000"), beijing = try! RegionCode("110000")

    func demand(fields: [String] = ["road_id", "speed"], budget: Int64 = 100_000, modes: [DeliveryMode] = [.api]) -> DemandRequest {
        DemandRequest(title: "城市配送路径优化 urban delivery routing", description: "需要实时路况 live traffic", sector: "transport",
                      scenario: "logistics", purpose: .industryDevelopment, regions: [shanghai], fieldsWanted: fields, tags: ["realtime"],
                      quantity: 1_000, budgetFen: budget, deliveryModes: modes, expiresAt: Date() + 86_400)
    }

    func product(title: String = "实时路况指数 real-time traffic index", fields: [String] = ["road_id", "speed", "volume"],
                 regions: [RegionCode]? = nil, modes: [DeliveryMode] = [.api], sector: String = "transport") -> ProductVersion {
        ProductVersion(title: title, description: "路段级实时路况 live traffic per segment", sector: sector, regions: regions ?? [shanghai],
                       scenarios: ["logistics"], tags: ["realtime"], fields: fields, deliveryModes: modes, chargeUnit: .call,
                       listPriceFen: 50, sourceResourceIDs: [UUID()])
    }

    func quote(_ fen: Int64) -> Quote { Quote(quantity: 1_000, amountFen: fen, lines: [], rules: []) }

    @Test func hardRulesExcludeWhateverTheScore() {
        #expect(Matching.exclusions(demand: demand(), product: product(), quote: quote(50_000)).isEmpty)
        #expect(Matching.exclusions(demand: demand(), product: product(sector: "energy"), quote: quote(1)) == [.sector])
        #expect(Matching.exclusions(demand: demand(), product: product(regions: [beijing]), quote: quote(1)) == [.region])
        #expect(Matching.exclusions(demand: demand(modes: [.sandbox]), product: product(), quote: quote(1)) == [.deliveryMode])
        #expect(Matching.exclusions(demand: demand(budget: 10), product: product(), quote: quote(11)) == [.budget])
    }

    @Test func aBetterFitScoresHigherAndEveryComponentIsExplained() {
        let good = Matching.score(demand: demand(), product: product(), quote: quote(50_000))
        let poor = Matching.score(demand: demand(), product: product(title: "气象 weather", fields: ["rainfall"]), quote: quote(90_000))
        #expect(good.total > poor.total)
        #expect(good.reasons.map(\.component) == ["fields", "scenario", "text", "tags", "region", "price"])
        #expect(good.reasons[0].value == 1 && good.reasons[0].detail.contains("2 of the 2 fields"))
        #expect((0...1).contains(good.total) && (0...1).contains(poor.total))
        #expect(Matching.score(demand: demand(), product: product(), quote: quote(50_000)) == good)
    }

    @Test func textSimilarityWorksForChineseWithoutSpaces() {
        #expect(Matching.similarity("实时路况", "实时路况指数") > 0.7)
        #expect(Matching.similarity("实时路况", "企业信用") == 0)
        #expect(Matching.similarity("Traffic Index", "traffic index") == 1)
        #expect(Matching.similarity("", "x") == 0)
    }
}
