public import Foundation

/// A fair-pricing rule (rule 5 of DOMAIN.md), one version of it. A rule's versions share its id; the
/// version in force at an instant is the latest whose `effectiveAt` has come, unless the rule was
/// retired by then.
public struct PricingRule: Sendable, Codable, Hashable {
    public enum Kind: Sendable, Codable, Hashable {
        /// 上限收费标准: the most a unit may cost.
        case cap(maxUnitPriceFen: Int64)
        /// Public governance and public welfare pay nothing (the law; the rule records who disclosed it).
        case publicInterestExemption
        /// 累进阶梯: quantity bands, each priced on its own (like a progressive tax).
        case tiers([Tier])
        /// Per-mille off for small and micro enterprises.
        case smallMicroDiscount(permille: Int)
        /// Per-mille off for demand in priority scenarios.
        case priorityScenarioDiscount(scenarios: [String], permille: Int)
        /// Base fee + per-unit price beyond the free units, at most `monthlyMaxFen` in all.
        case usagePlan(baseFeeFen: Int64, perUnitFen: Int64, freeUnits: Int64, monthlyMaxFen: Int64)
        /// The unit price of an operator without a full operating year.
        case trialPrice(unitPriceFen: Int64)
    }

    /// A quantity band: units from `from` (inclusive) up to `upTo` (exclusive; nil = no end), priced at
    /// `unitPriceFen`, or at the list price times `multiplierPermille` / 1000.
    public struct Tier: Sendable, Codable, Hashable {
        public var from: Int64
        public var upTo: Int64?
        public var unitPriceFen: Int64?
        public var multiplierPermille: Int?

        public init(from: Int64, upTo: Int64?, unitPriceFen: Int64? = nil, multiplierPermille: Int? = nil) {
            self.from = from
            self.upTo = upTo
            self.unitPriceFen = unitPriceFen
            self.multiplierPermille = multiplierPermille
        }
    }

    /// What a rule applies to; nil matches anything.
    public struct Scope: Sendable, Codable, Hashable {
        public var sector: String?
        public var region: RegionCode?
        public var productID: UUID?
        public var operatorID: UUID?
        public var chargeUnit: ChargeUnit?
        /// The region covers only products listing that very code, not the divisions within it: how rule
        /// versions written before regions nested (sql/0014) keep the reach they were announced with.
        public var regionExact: Bool

        public init(sector: String? = nil, region: RegionCode? = nil, productID: UUID? = nil, operatorID: UUID? = nil, chargeUnit: ChargeUnit? = nil,
                    regionExact: Bool = false) {
            self.sector = sector
            self.region = region
            self.productID = productID
            self.operatorID = operatorID
            self.chargeUnit = chargeUnit
            self.regionExact = regionExact && region != nil
        }

        /// Whether the rule applies to the product: every field given holds (a region: some region of the
        /// product lies within it, so a rule for a province covers its districts' products).
        public func covers(_ product: PricedProduct) -> Bool {
            (sector == nil || sector == product.version.sector)
                && (region.map { region in product.version.regions.contains { regionExact ? region == $0 : region.covers($0) } } ?? true)
                && (productID == nil || productID == product.id)
                && (operatorID == nil || operatorID == product.operatorID)
                && (chargeUnit == nil || chargeUnit == product.version.chargeUnit)
        }
    }

    public var id: Int64
    public var version: Int
    public var kind: Kind
    public var scope: Scope
    public var effectiveAt: Date
    public var reviewBy: Date
    public var retiredAt: Date?

    public init(id: Int64, version: Int, kind: Kind, scope: Scope = Scope(), effectiveAt: Date, reviewBy: Date, retiredAt: Date? = nil) {
        self.id = id
        self.version = version
        self.kind = kind
        self.scope = scope
        self.effectiveAt = effectiveAt
        self.reviewBy = reviewBy
        self.retiredAt = retiredAt
    }

    /// Checks what a rule must satisfy on its own, naming the field.
    public func validate() throws(MarketInputError) {
        func nonNegative(_ value: Int64, _ field: String, maximum: Int64 = Money.maximumAmountFen) throws(MarketInputError) {
            try Money.validate(value, field: field, maximum: maximum)
        }
        let unitPrice = Money.maximumUnitPriceFen
        func permille(_ value: Int, _ field: String) throws(MarketInputError) {
            guard (0...1000).contains(value) else { throw MarketInputError(field: field, rule: "must be from 0 to 1000 (per mille)") }
        }
        guard reviewBy > effectiveAt else { throw MarketInputError(field: "review_by", rule: "must be after the effective time") }
        switch kind {
        case .cap(let max): try nonNegative(max, "max_unit_price_fen", maximum: unitPrice)
        case .publicInterestExemption: break
        case .tiers(let tiers):
            guard !tiers.isEmpty else { throw MarketInputError(field: "tiers", rule: "must have at least one band") }
            var next: Int64 = 1
            for (index, tier) in tiers.enumerated() {
                guard tier.from == next else { throw MarketInputError(field: "tiers", rule: "bands must start at 1 and follow each other without gaps") }
                guard tier.from <= Money.maximumQuantity else { throw MarketInputError(field: "tiers", rule: "bands must start at most at 10^12 units") }
                guard (tier.unitPriceFen == nil) != (tier.multiplierPermille == nil) else {
                    throw MarketInputError(field: "tiers", rule: "each band needs a unit price or a multiplier, not both")
                }
                if let price = tier.unitPriceFen { try nonNegative(price, "tiers.unit_price_fen", maximum: unitPrice) }
                if let multiplier = tier.multiplierPermille {
                    guard (0...10_000).contains(multiplier) else { throw MarketInputError(field: "tiers.multiplier_permille", rule: "must be from 0 to 10000") }
                }
                if let upTo = tier.upTo {
                    guard upTo > tier.from else { throw MarketInputError(field: "tiers", rule: "a band must end after it starts") }
                    guard upTo <= Money.maximumQuantity + 1 else { throw MarketInputError(field: "tiers", rule: "bands must end at most at 10^12 units") }
                    next = upTo
                } else {
                    guard index == tiers.count - 1 else { throw MarketInputError(field: "tiers", rule: "only the last band may be open-ended") }
                    next = Int64.max
                }
            }
            guard next == Int64.max else { throw MarketInputError(field: "tiers", rule: "the last band must be open-ended") }
        case .smallMicroDiscount(let rate): try permille(rate, "permille")
        case .priorityScenarioDiscount(let scenarios, let rate):
            try permille(rate, "permille")
            try validateSlugs(scenarios, field: "scenarios")
        case .usagePlan(let base, let perUnit, let free, let max):
            try nonNegative(base, "base_fee_fen"); try nonNegative(perUnit, "per_unit_fen", maximum: unitPrice)
            try nonNegative(free, "free_units", maximum: Money.maximumQuantity); try nonNegative(max, "monthly_max_fen")
            guard max >= base else { throw MarketInputError(field: "monthly_max_fen", rule: "must be at least the base fee") }
        case .trialPrice(let price): try nonNegative(price, "unit_price_fen", maximum: unitPrice)
        }
    }
}

/// The product being priced.
public struct PricedProduct: Sendable, Hashable {
    public var id: UUID
    public var operatorID: UUID
    public var version: ProductVersion
    /// When the operator started operating (for trial prices); nil: unknown, a full year assumed.
    public var operatorSince: Date?

    public init(id: UUID, operatorID: UUID, version: ProductVersion, operatorSince: Date? = nil) {
        self.id = id
        self.operatorID = operatorID
        self.version = version
        self.operatorSince = operatorSince
    }
}

/// Who buys, for what: the quantity, the purpose, the buyer's verified classes (in force or not: the
/// quote checks them at its instant), the approval of the demand's public-interest purpose by an agency,
/// and the scenario.
public struct PricedPurchase: Sendable, Hashable {
    public var quantity: Int64
    public var purpose: Purpose
    public var verifications: [Verification]
    public var purposeApproval: PurposeApproval?
    public var scenario: String?

    public init(quantity: Int64, purpose: Purpose, verifications: [Verification] = [], purposeApproval: PurposeApproval? = nil,
                scenario: String? = nil) {
        self.quantity = quantity
        self.purpose = purpose
        self.verifications = verifications
        self.purposeApproval = purposeApproval
        self.scenario = scenario
    }
}

/// The pricing engine: a quote is a function of the product version, the rules in force at an instant,
/// the buyer's class, the purpose and the quantity, and of nothing else.
///
/// Steps, in this order:
/// 1. public governance and public welfare: zero, and nothing else applies, when the buyer holds a verified
///    public institution or social organization class, or an agency approved the demand's purpose;
///    otherwise a line says why not, and the purchase is priced as any other;
/// 2. unit price: the list price, or the trial price if lower and the operator has not operated a full year;
/// 3. cap: the unit price is clamped to the lowest cap in force for the product;
/// 4. amount: a usage plan if one applies (base fee + per-unit beyond the free units, at most the monthly
///    maximum, per-unit clamped to the cap); else progressive tiers if any (each band's units at the
///    band's price, clamped to the cap); else unit price × quantity;
/// 5. discounts, stacked: small and micro enterprise (verified, in force) first, then priority scenario, each on the running
///    amount, never below zero;
/// 6. the cap once more on the total: never above cap × quantity.
/// Rounding: every per-mille step rounds half up to a whole fen (`(amount × rate + 500) / 1000`); nothing
/// else divides. An amount above `Money.maximumAmountFen` (an order's most) is refused, and so every
/// intermediate product that would overflow 64 bits.
public enum Pricing {
    /// The version of each rule in force at `instant`.
    public static func rulesInForce(_ versions: [PricingRule], at instant: Date) -> [PricingRule] {
        Dictionary(grouping: versions, by: \.id).values.compactMap { versions in
            versions.filter { $0.effectiveAt <= instant }.max { $0.version < $1.version }
        }.filter { rule in rule.retiredAt.map { $0 > instant } ?? true }.sorted { $0.id < $1.id }
    }

    public static func quote(_ product: PricedProduct, _ purchase: PricedPurchase, rules versions: [PricingRule],
                             at instant: Date) throws(MarketInputError) -> Quote {
        guard purchase.quantity >= 1 else { throw MarketInputError(field: "quantity", rule: "must be at least 1") }
        let rules = rulesInForce(versions, at: instant).filter { $0.scope.covers(product) }
        var used: [Quote.RuleReference] = []
        var lines: [Quote.Line] = []
        func use(_ rule: PricingRule) { used.append(Quote.RuleReference(id: rule.id, version: rule.version)) }
        let quantity = purchase.quantity
        let unitName = product.version.chargeUnit.rawValue

        // 1. Public interest: free on a verified class or an agency's approval; otherwise said and priced.
        var unverifiedPurpose: Quote.Line?
        if purchase.purpose.isPublicInterest {
            let vouching = purchase.verifications.filter { $0.partyClass.vouchesForPublicInterest }
            let basis: String? = if let verification = PartyClass.allCases.filter(\.vouchesForPublicInterest)
                .compactMap({ Party.verification($0, in: vouching, at: instant) }).first {
                "a verified \(verification.partyClass.rawValue.replacingOccurrences(of: "_", with: " ")) (\(verification.reference))"
            } else if let approval = purchase.purposeApproval {
                "approved by agency \(approval.agencyID.uuidString.lowercased()) (review \(approval.id.uuidString.lowercased()))"
            } else {
                nil
            }
            if let basis {
                if let exemption = rules.first(where: { $0.kind == .publicInterestExemption }) { use(exemption) }
                lines.append(.init(step: "public_interest_free", detail: "\(purchase.purpose.rawValue): public data used free of charge, \(basis)", amountFen: 0))
                return Quote(quantity: quantity, amountFen: 0, lines: lines, rules: used)
            }
            unverifiedPurpose = .init(step: "public_interest_unverified",
                                      detail: "\(purchase.purpose.rawValue) declared, but the buyer holds no verified public institution or social organization class and no agency approved this demand's purpose: priced as other use until one does",
                                      amountFen: try multiply(product.version.listPriceFen, quantity))
        }
        if let unverifiedPurpose { lines.append(unverifiedPurpose) }

        // 2. Unit price.
        var unit = product.version.listPriceFen
        lines.append(.init(step: "list_price", detail: "\(unit) fen per \(unitName)", amountFen: try multiply(unit, quantity)))
        let inTrial = product.operatorSince.map { since in
            (Calendar(identifier: .gregorian).date(byAdding: .year, value: 1, to: since) ?? since) > instant
        } ?? false
        if inTrial, let trial = rules.compactMap({ rule -> (PricingRule, Int64)? in
            if case .trialPrice(let price) = rule.kind { return (rule, price) } else { return nil }
        }).min(by: { $0.1 < $1.1 }), trial.1 < unit {
            unit = trial.1
            use(trial.0)
            lines.append(.init(step: "trial_price", detail: "\(unit) fen per \(unitName): the operator has not operated a full year", amountFen: try multiply(unit, quantity)))
        }

        // 3. Cap on the unit price.
        let cap = rules.compactMap { rule -> (PricingRule, Int64)? in
            if case .cap(let max) = rule.kind { return (rule, max) } else { return nil }
        }.min { $0.1 < $1.1 }
        if let cap {
            use(cap.0)
            if unit > cap.1 {
                unit = cap.1
                lines.append(.init(step: "cap", detail: "unit price clamped to the cap of \(cap.1) fen per \(unitName)", amountFen: try multiply(unit, quantity)))
            }
        }

        // 4. Amount.
        var amount: Int64
        if let plan = rules.first(where: { if case .usagePlan = $0.kind { true } else { false } }),
           case .usagePlan(let base, let perUnit, let free, let monthlyMax) = plan.kind {
            use(plan)
            let price = min(perUnit, cap?.1 ?? perUnit)
            let billable = max(0, quantity - free)
            amount = min(try add(base, try multiply(price, billable)), monthlyMax)
            lines.append(.init(step: "usage_plan", detail: "\(base) fen base + \(price) fen × \(billable) beyond \(free) free units, at most \(monthlyMax) fen", amountFen: amount))
        } else if let tierRule = rules.first(where: { if case .tiers = $0.kind { true } else { false } }),
                  case .tiers(let tiers) = tierRule.kind {
            use(tierRule)
            amount = 0
            var parts: [String] = []
            for tier in tiers where tier.from <= quantity {
                let end = min(tier.upTo.map { $0 - 1 } ?? quantity, quantity)
                let units = end - tier.from + 1
                guard units > 0 else { continue }
                var price = tier.unitPriceFen ?? permille(product.version.listPriceFen, tier.multiplierPermille ?? 1000)
                if let cap { price = min(price, cap.1) }
                amount = try add(amount, try multiply(price, units))
                parts.append("\(units) × \(price)")
            }
            lines.append(.init(step: "tiers", detail: "progressive bands: " + parts.joined(separator: " + ") + " fen", amountFen: amount))
        } else {
            amount = try multiply(unit, quantity)
        }

        // 5. Discounts, in their documented order.
        if let verification = Party.verification(.smallMicro, in: purchase.verifications, at: instant),
           let discount = rules.compactMap({ rule -> (PricingRule, Int)? in
               if case .smallMicroDiscount(let rate) = rule.kind { return (rule, rate) } else { return nil }
           }).max(by: { $0.1 < $1.1 }) {
            use(discount.0)
            amount = max(0, amount - permille(amount, discount.1))
            lines.append(.init(step: "small_micro_discount",
                               detail: "\(discount.1)‰ off for a verified small or micro enterprise (\(verification.reference))", amountFen: amount))
        }
        if let scenario = purchase.scenario, let discount = rules.compactMap({ rule -> (PricingRule, Int)? in
            if case .priorityScenarioDiscount(let scenarios, let rate) = rule.kind, scenarios.contains(scenario) { return (rule, rate) }
            return nil
        }).max(by: { $0.1 < $1.1 }) {
            use(discount.0)
            amount = max(0, amount - permille(amount, discount.1))
            lines.append(.init(step: "priority_scenario_discount", detail: "\(discount.1)‰ off for the priority scenario \(scenario)", amountFen: amount))
        }

        // 6. The cap on the total.
        if let cap, amount > (try multiply(cap.1, quantity)) {
            amount = try multiply(cap.1, quantity)
            lines.append(.init(step: "cap_total", detail: "total clamped to the cap of \(cap.1) fen × \(quantity)", amountFen: amount))
        }
        guard amount <= Money.maximumAmountFen else { throw tooLarge }
        return Quote(quantity: quantity, amountFen: amount, lines: lines, rules: used.sorted { ($0.id, $0.version) < ($1.id, $1.version) })
    }

    public static let tooLarge = MarketInputError(field: "quantity", rule: "makes the amount larger than an order may be (\(Money.maximumAmountFen) fen)")

    /// `amount × rate / 1000`, rounded half up to a whole fen.
    static func permille(_ amount: Int64, _ rate: Int) -> Int64 {
        let (product, overflow) = amount.multipliedReportingOverflow(by: Int64(rate))
        if overflow { return amount / 1000 * Int64(rate) + (amount % 1000 * Int64(rate) + 500) / 1000 }
        return (product + 500) / 1000
    }

    static func multiply(_ a: Int64, _ b: Int64) throws(MarketInputError) -> Int64 {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw tooLarge }
        return value
    }

    static func add(_ a: Int64, _ b: Int64) throws(MarketInputError) -> Int64 {
        let (value, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw tooLarge }
        return value
    }
}

extension PricingRule.Kind {
    /// The kind's name as stored (`cap`, `tiers`, ...).
    public var name: String {
        switch self {
        case .cap: "cap"
        case .publicInterestExemption: "publicInterestExemption"
        case .tiers: "tiers"
        case .smallMicroDiscount: "smallMicroDiscount"
        case .priorityScenarioDiscount: "priorityScenarioDiscount"
        case .usagePlan: "usagePlan"
        case .trialPrice: "trialPrice"
        }
    }

    /// Whether replacing `old` by this can raise some quote: such a change waits for the notice period.
    /// Changes whose effect is not simply up or down (a new band structure, a narrower discount) count
    /// as increases.
    public func raisesPrices(comparedTo old: PricingRule.Kind) -> Bool {
        switch (old, self) {
        case (.cap(let a), .cap(let b)): b > a
        case (.publicInterestExemption, .publicInterestExemption): false
        case (.tiers(let a), .tiers(let b)):
            a.count != b.count || zip(a, b).contains { old, new in
                old.from != new.from || old.upTo != new.upTo
                    || (new.unitPriceFen ?? 0) > (old.unitPriceFen ?? 0)
                    || (new.multiplierPermille ?? 0) > (old.multiplierPermille ?? 0)
                    || (old.unitPriceFen == nil) != (new.unitPriceFen == nil)
            }
        case (.smallMicroDiscount(let a), .smallMicroDiscount(let b)): b < a
        case (.priorityScenarioDiscount(let oldScenarios, let a), .priorityScenarioDiscount(let newScenarios, let b)):
            b < a || !Set(oldScenarios).isSubset(of: newScenarios)
        case (.usagePlan(let base, let unit, let free, let max), .usagePlan(let newBase, let newUnit, let newFree, let newMax)):
            newBase > base || newUnit > unit || newFree < free || newMax > max
        case (.trialPrice(let a), .trialPrice(let b)): b > a
        default: true
        }
    }
}

// MARK: Increases only after notice

extension PricingRule.Kind {
    /// Whether a rule of this kind can raise a quote where none applied before: a band or a plan may be
    /// priced above the list price; a cap, a discount, an exemption or a trial price only lower it.
    public var canRaiseWhereAdded: Bool {
        switch self {
        case .tiers, .usagePlan: true
        case .cap, .publicInterestExemption, .smallMicroDiscount, .priorityScenarioDiscount, .trialPrice: false
        }
    }

    /// Whether taking a rule of this kind away can raise a quote: every kind but the exemption (public
    /// governance and public welfare pay nothing with or without it).
    public var canRaiseWhereRemoved: Bool { self != .publicInterestExemption }
}

extension PricingRule {
    /// Which products a change of scope moves, among those a buyer can pay for now or later (listed or
    /// suspended, at their current or announced version): a product a new rule will not reach was never
    /// priced by it, and a revision that moves a product is judged on its own.
    public struct ScopeChange: Sendable, Hashable {
        /// Some such product is covered by the old scope and not by the new one (it loses the rule).
        public var losesProducts: Bool
        /// Some such product is covered by the new scope and not by the old one (it gains the rule).
        public var gainsProducts: Bool

        public init(losesProducts: Bool, gainsProducts: Bool) {
            self.losesProducts = losesProducts
            self.gainsProducts = gainsProducts
        }
    }

    /// Whether putting this version in the place of `old` (nil: no version in force) can raise some
    /// buyer's quote: its terms against the old ones, and the products that leave or enter its scope.
    public func raisesPrices(comparedTo old: PricingRule?, scope change: ScopeChange) -> Bool {
        guard let old else { return change.gainsProducts && kind.canRaiseWhereAdded }
        if kind.raisesPrices(comparedTo: old.kind) { return true }
        if change.losesProducts && old.kind.canRaiseWhereRemoved { return true }
        if change.gainsProducts && kind.canRaiseWhereAdded { return true }
        return false
    }
}

extension Pricing {
    /// When a change may take effect: at once when it raises no quote against `inForce` (the version
    /// buyers pay by now; nil: none), otherwise after the notice period. (A version announced for later
    /// does not lend its time: it may never apply, or never have been an increase with notice.)
    public static func earliestEffectiveTime(of change: PricingRule, inForce: PricingRule?, scope: PricingRule.ScopeChange,
                                             now: Date, notice: TimeInterval) -> Date {
        change.raisesPrices(comparedTo: inForce, scope: scope) ? now + notice : now
    }
}

extension ProductVersion {
    /// Whether selling this version in place of `old` can raise some buyer's quote, now or when a rule
    /// version announced for later takes effect (`versions`: every version of every rule). Another charge
    /// unit always can (prices in different units do not compare). Otherwise, at each of those instants:
    /// the most a unit can cost (the list price, clamped by the lowest cap that covers the product) must
    /// not rise; the product must not leave a discount or trial price; and it must not enter or leave a
    /// tiers rule or usage plan, or raise its list price under one (bands may be dearer or cheaper than
    /// the list price, and multiply it).
    public func raisesPrices(comparedTo old: ProductVersion, productID: UUID, operatorID: UUID, rules versions: [PricingRule],
                             at now: Date) -> Bool {
        if chargeUnit != old.chargeUnit { return true }
        let before = PricedProduct(id: productID, operatorID: operatorID, version: old)
        let after = PricedProduct(id: productID, operatorID: operatorID, version: self)
        let instants = Set([now] + (versions.map(\.effectiveAt) + versions.compactMap(\.retiredAt)).filter { $0 > now })
        for instant in instants {
            let rules = Pricing.rulesInForce(versions, at: instant)
            func ceiling(_ product: PricedProduct) -> Int64 {
                rules.filter { $0.scope.covers(product) }.reduce(product.version.listPriceFen) { lowest, rule in
                    if case .cap(let max) = rule.kind { min(lowest, max) } else { lowest }
                }
            }
            if ceiling(after) > ceiling(before) { return true }
            for rule in rules {
                let (was, will) = (rule.scope.covers(before), rule.scope.covers(after))
                switch rule.kind {
                case .cap, .publicInterestExemption:
                    continue
                case .tiers, .usagePlan:
                    if was != will || (will && listPriceFen > old.listPriceFen) { return true }
                case .smallMicroDiscount, .priorityScenarioDiscount, .trialPrice:
                    if was && !will { return true }
                }
            }
        }
        return false
    }
}
