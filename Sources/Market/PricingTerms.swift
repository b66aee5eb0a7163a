import Foundation

/// A pricing rule's terms as people write them (pdxctl's options, the console's form): what turns a kind's
/// name and its fields into a `PricingRule.Kind`, in one place. Field names are the form's
/// (`max_unit_price_fen`); pdxctl spells them as options (`--max-unit-price-fen`).
public struct PricingTerms: Sendable, Equatable {
    /// The kinds' names, in the order they are offered.
    public static let kinds = ["cap", "exemption", "tiers", "small-micro-discount", "scenario-discount", "usage-plan", "trial-price"]

    public var maxUnitPriceFen: Int64?
    /// Quantity bands, `FROM-TO:PRICE` or `FROM-:xPERMILLE`, in order.
    public var bands: [String]
    public var permille: Int?
    public var scenarios: [String]
    public var baseFeeFen: Int64?
    public var perUnitFen: Int64?
    public var freeUnits: Int64?
    public var monthlyMaxFen: Int64?
    public var unitPriceFen: Int64?

    public init(maxUnitPriceFen: Int64? = nil, bands: [String] = [], permille: Int? = nil, scenarios: [String] = [], baseFeeFen: Int64? = nil,
                perUnitFen: Int64? = nil, freeUnits: Int64? = nil, monthlyMaxFen: Int64? = nil, unitPriceFen: Int64? = nil) {
        self.maxUnitPriceFen = maxUnitPriceFen
        self.bands = bands
        self.permille = permille
        self.scenarios = scenarios
        self.baseFeeFen = baseFeeFen
        self.perUnitFen = perUnitFen
        self.freeUnits = freeUnits
        self.monthlyMaxFen = monthlyMaxFen
        self.unitPriceFen = unitPriceFen
    }

    /// The kind named `name` with these terms; a missing term is refused naming its field (rule: "needed by <kind>").
    public func kind(named name: String) throws(MarketInputError) -> PricingRule.Kind {
        func need<T>(_ value: T?, _ field: String) throws(MarketInputError) -> T {
            guard let value else { throw MarketInputError(field: field, rule: "is needed by \(name)") }
            return value
        }
        switch name {
        case "cap": return .cap(maxUnitPriceFen: try need(maxUnitPriceFen, "max_unit_price_fen"))
        case "exemption": return .publicInterestExemption
        case "tiers":
            guard !bands.isEmpty else { throw MarketInputError(field: "band", rule: "is needed by tiers (at least one)") }
            var tiers: [PricingRule.Tier] = []
            for band in bands { tiers.append(try Self.parseBand(band)) }
            return .tiers(tiers)
        case "small-micro-discount": return .smallMicroDiscount(permille: try need(permille, "permille"))
        case "scenario-discount":
            guard !scenarios.isEmpty else { throw MarketInputError(field: "scenario", rule: "is needed by scenario-discount (at least one)") }
            return .priorityScenarioDiscount(scenarios: scenarios, permille: try need(permille, "permille"))
        case "usage-plan":
            return .usagePlan(baseFeeFen: try need(baseFeeFen, "base_fee_fen"), perUnitFen: try need(perUnitFen, "per_unit_fen"),
                              freeUnits: freeUnits ?? 0, monthlyMaxFen: try need(monthlyMaxFen, "monthly_max_fen"))
        case "trial-price": return .trialPrice(unitPriceFen: try need(unitPriceFen, "unit_price_fen"))
        default: throw MarketInputError(field: "kind", rule: "must be one of \(Self.kinds.joined(separator: ", ")), got '\(name)'")
        }
    }

    /// The name a kind is written with.
    public static func name(of kind: PricingRule.Kind) -> String {
        switch kind {
        case .cap: "cap"
        case .publicInterestExemption: "exemption"
        case .tiers: "tiers"
        case .smallMicroDiscount: "small-micro-discount"
        case .priorityScenarioDiscount: "scenario-discount"
        case .usagePlan: "usage-plan"
        case .trialPrice: "trial-price"
        }
    }

    /// A band: `1-1000:50` (units 1 to 1000 at 50 fen) or `1001-:x800` (from 1001 on, 80% of the list price).
    public static func parseBand(_ text: String) throws(MarketInputError) -> PricingRule.Tier {
        let bad = MarketInputError(field: "band", rule: "must look like FROM-TO:PRICE or FROM-:xPERMILLE (such as 1-1000:50 or 1001-:x800), got '\(text)'")
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw bad }
        let range = parts[0].split(separator: "-", omittingEmptySubsequences: false)
        guard range.count == 2, let from = Int64(range[0]) else { throw bad }
        var upTo: Int64?
        if !range[1].isEmpty {
            guard let last = Int64(range[1]), last < .max else { throw bad }
            upTo = last + 1
        }
        if parts[1].hasPrefix("x") {
            guard let multiplier = Int(parts[1].dropFirst()) else { throw bad }
            return PricingRule.Tier(from: from, upTo: upTo, multiplierPermille: multiplier)
        }
        guard let price = Int64(parts[1]) else { throw bad }
        return PricingRule.Tier(from: from, upTo: upTo, unitPriceFen: price)
    }

    /// A kind's terms in a line (`at most 500 fen per unit`).
    public static func describe(_ kind: PricingRule.Kind) -> String {
        switch kind {
        case .cap(let max): "at most \(max) fen per unit"
        case .publicInterestExemption: "public governance and welfare free"
        case .tiers(let tiers): tiers.map { tier in
            let range = "\(tier.from)-\(tier.upTo.map { String($0 - 1) } ?? "")"
            return range + ":" + (tier.unitPriceFen.map(String.init) ?? "x\(tier.multiplierPermille ?? 1000)")
        }.joined(separator: " ")
        case .smallMicroDiscount(let rate): "\(rate)‰ off for small and micro enterprises"
        case .priorityScenarioDiscount(let scenarios, let rate): "\(rate)‰ off for \(scenarios.joined(separator: ", "))"
        case .usagePlan(let base, let unit, let free, let max): "\(base) fen + \(unit) fen/unit beyond \(free) free, at most \(max) fen a month"
        case .trialPrice(let price): "\(price) fen per unit in an operator's first year"
        }
    }

    /// What a rule covers in a line (`transport, 310000, per call`; `everything`).
    public static func describe(_ scope: PricingRule.Scope) -> String {
        let parts = [scope.sector, scope.region.map { $0.value + (scope.regionExact ? " (that code only)" : "") }, scope.productID.map { "product " + $0.uuidString.lowercased() },
                     scope.operatorID.map { "operator " + $0.uuidString.lowercased() }, scope.chargeUnit.map { "per " + $0.rawValue }].compactMap { $0 }
        return parts.isEmpty ? "everything" : parts.joined(separator: ", ")
    }
}
