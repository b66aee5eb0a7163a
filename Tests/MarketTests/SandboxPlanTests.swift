import Foundation
@testable import Market
import Testing

/// The sandbox's pure part: an analysis checked against the columns' roles, and the privacy arithmetic.
struct SandboxPlanTests {
    static let columns = [
        SandboxColumn(name: "id", role: .entity, type: .text), SandboxColumn(name: "phone", role: .hidden, type: .text),
        SandboxColumn(name: "district", role: .dimension, type: .text), SandboxColumn(name: "year", role: .dimension, type: .integer),
        SandboxColumn(name: "cost", role: .measure, type: .number, lower: -50, upper: 200),
    ]

    @Test func laplaceNoiseHasItsStatedSpread() {
        var generator = SplitMix64(seed: 42)
        let scale = 3.0, draws = 200_000
        var within = 0, sum = 0.0
        let bound = Laplace.bound(scale: scale, confidence: 0.95)
        for _ in 0..<draws {
            let x = Laplace.sample(scale: scale, using: &generator)
            sum += x
            if abs(x) <= bound { within += 1 }
        }
        #expect(abs(bound - scale * log(20)) < 1e-12)
        // The mean is 0 (standard error 3·√2/√200,000 ≈ 0.0095) and 95% fall within the bound (standard error 0.0005).
        #expect(abs(sum / Double(draws)) < 0.05)
        #expect(abs(Double(within) / Double(draws) - 0.95) < 0.003)
    }

    @Test func theEpsilonIsSplitAmongTheFiguresAGroupReleases() throws {
        let spec = SandboxAnalysisSpec(measures: [.init(statistic: .countEntities), .init(statistic: .sum, column: "cost"),
                                                  .init(statistic: .mean, column: "cost"), .init(statistic: .quantile, column: "cost", quantile: 0.5)],
                                       groupBy: ["district"], epsilon: 1.5)
        let plan = try SandboxPlan(spec, columns: Self.columns, settings: SandboxSettings(maxGroupsPerEntity: 2))
        // The count, one sum (shared by the sum and the mean) and one histogram: three figures.
        #expect(plan.releases == 3 && abs(plan.epsilonEach - 0.5) < 1e-12)
        #expect(plan.countScale == 4 && plan.sumScale(4) == 2 * 200 / 0.5)
    }

    @Test func groupsBelowKAreSuppressedWhateverTheNoise() throws {
        let plan = try SandboxPlan(SandboxAnalysisSpec(measures: [.init(statistic: .countEntities)], groupBy: ["district"], epsilon: 10),
                                   columns: Self.columns, settings: SandboxSettings(minEntities: 10, epsilonBudget: 10))
        var generator = SplitMix64(seed: 1)
        for _ in 0..<200 {
            let truths = [SandboxGroupTruth(keys: [.text("small")], entities: 9, sums: [], histograms: []),
                          SandboxGroupTruth(keys: [.text("large")], entities: 1_000, sums: [], histograms: [])]
            let (result, suppressed) = plan.release(truths, using: &generator)
            #expect(result.groups.map(\.keys) == [["large"]] && suppressed == 1)
        }
    }

    @Test func theEntityAndHiddenColumnsAreRefusedEverywhereAndValuesAreTyped() {
        func refusal(_ spec: SandboxAnalysisSpec) -> MarketInputError? {
            do { _ = try SandboxPlan(spec, columns: Self.columns, settings: SandboxSettings()); return nil } catch { return error }
        }
        let count = SandboxAnalysisSpec.Measure(statistic: .countEntities)
        for name in ["id", "phone"] {
            #expect(refusal(.init(measures: [count], groupBy: [name]))?.field == "group_by[0]")
            #expect(refusal(.init(measures: [count], filters: [.init(column: name, op: .eq, value: .text("x"))]))?.field == "filters[0].column")
            #expect(refusal(.init(measures: [.init(statistic: .sum, column: name)]))?.field == "measures[0].column")
        }
        #expect(refusal(.init(measures: [.init(statistic: .countEntities, column: "cost")]))?.field == "measures[0].column")
        #expect(refusal(.init(measures: [count], filters: [.init(column: "year", op: .eq, value: .text("2024"))]))?.field == "filters[0].value")
        #expect(refusal(.init(measures: [count], filters: [.init(column: "year", op: .between, values: [.integer(1)])]))?.field == "filters[0].values")
        #expect(refusal(.init(measures: [count], filters: [.init(column: "district", op: .in, values: [])]))?.field == "filters[0].values")
        #expect(refusal(.init(measures: [.init(statistic: .quantile, column: "cost", quantile: 1)]))?.field == "measures[0].quantile")
        #expect(refusal(.init(measures: [count], epsilon: 0))?.field == "epsilon")
        #expect(refusal(.init(measures: [count], groupBy: ["district", "year", "district"]))?.field == "group_by[2]")
        #expect(refusal(.init(measures: [count], filters: [.init(column: "district", op: .eq, value: .text("x' OR 1=1 --"))])) == nil)
    }

    @Test func declarationsNeedOneEntityAndBoundedMeasures() {
        func refusal(_ columns: [SandboxColumn]) -> String? {
            do { try SandboxColumn.check(columns); return nil } catch { return error.field }
        }
        #expect(refusal(Self.columns) == nil)
        #expect(refusal(Self.columns.filter { $0.role != .entity }) == "columns")
        #expect(refusal(Self.columns + [SandboxColumn(name: "other_id", role: .entity, type: .text)]) == "columns")
        #expect(refusal(Self.columns + [SandboxColumn(name: "x", role: .measure, type: .number, lower: 5, upper: 5)]) == "columns.x")
        #expect(refusal(Self.columns + [SandboxColumn(name: "bad name", role: .dimension, type: .text)]) == "columns.bad name")
        #expect(refusal(Self.columns + [SandboxColumn(name: "cost", role: .dimension, type: .text)]) == "columns.cost")
        #expect((try? SandboxSettings(minEntities: 5).check(important: true)) == nil)
        #expect((try? SandboxSettings(minEntities: 5).check(important: false)) != nil)
    }
}
