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

    /// The score's components, counted without allocating, equal the set arithmetic they stand for (duplicate
    /// fields and tags counted once, nested regions within or covering), and the bound matching orders
    /// candidates by is never below the partial score, on many drawn products and demands.
    @Test func partialScoresEqualTheirSetArithmeticAndTheBoundHolds() throws {
        let words = ["road_id", "speed", "volume", "origin", "flow", "delay"]
        let regions = try ["310000", "310100", "310115", "310101", "110000", "110105", "320500"].map { try RegionCode($0) }
        var random = SplitMix64(seed: 11)
        func pick<T>(_ values: [T], _ count: Int) -> [T] { (0..<count).map { _ in values[Int(random.next() % UInt64(values.count))] } }
        for _ in 0..<500 {
            var wanted = demand(fields: Array(Set(pick(words, 1 + Int(random.next() % 3)))))
            wanted.tags = Array(Set(pick(words, Int(random.next() % 3))))
            wanted.regions = Array(Set(pick(regions, 1 + Int(random.next() % 2))))
            var offered = product(fields: pick(words, 1 + Int(random.next() % 4)), regions: Array(Set(pick(regions, 1 + Int(random.next() % 3)))))
            offered.tags = pick(words, Int(random.next() % 4))
            let scorer = Matching.Scorer(wanted)
            let partial = Matching.Scorer.Partial(scorer, offered)
            let score = scorer.score(partial, quote: quote(0))
            let value = Dictionary(uniqueKeysWithValues: score.reasons.map { ($0.component, $0.value) })
            let fieldsWanted = Set(wanted.fieldsWanted), tagsWanted = Set(wanted.tags), productTags = Set(offered.tags)
            #expect(value["fields"] == Double(Set(offered.fields).intersection(fieldsWanted).count) / Double(fieldsWanted.count))
            let union = tagsWanted.union(productTags).count
            #expect(value["tags"] == (union == 0 ? 0 : Double(tagsWanted.intersection(productTags).count) / Double(union)))
            let within = offered.regions.filter { r in wanted.regions.contains { $0.covers(r) } }.count
            let broader = offered.regions.filter { r in !wanted.regions.contains { $0.covers(r) } && wanted.regions.contains { r.covers($0) } }.count
            #expect(value["region"] == (Double(within) + Double(broader) / 2) / Double(offered.regions.count))
            #expect(scorer.bound(offered) + 1e-12 >= partial.total, "the bound holds")
            #expect(abs(scorer.bound(offered) - (partial.total - value["text"]! * 0.2 + 0.2)) < 1e-9, "the bound is the partial score with a full text score")
        }
    }

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
