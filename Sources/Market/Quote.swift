/// A price for a quantity of a product version, with the steps that produced it and the pricing
/// rules (id and version) that were applied. Orders keep the quote they were placed with.
public struct Quote: Sendable, Codable, Hashable {
    public struct Line: Sendable, Codable, Hashable {
        /// What the step did ("list_price", "public_interest_free", ...).
        public var step: String
        public var detail: String
        /// The running total after this step, in fen.
        public var amountFen: Int64

        public init(step: String, detail: String, amountFen: Int64) {
            self.step = step
            self.detail = detail
            self.amountFen = amountFen
        }
    }

    public struct RuleReference: Sendable, Codable, Hashable {
        public var id: Int64
        public var version: Int

        public init(id: Int64, version: Int) {
            self.id = id
            self.version = version
        }
    }

    public var quantity: Int64
    public var amountFen: Int64
    public var lines: [Line]
    public var rules: [RuleReference]

    public init(quantity: Int64, amountFen: Int64, lines: [Line], rules: [RuleReference]) {
        self.quantity = quantity
        self.amountFen = amountFen
        self.lines = lines
        self.rules = rules
    }

    /// The quote before any pricing rule: the list price times the quantity, and nothing at all for
    /// public governance and public welfare (rule 5). Refuses an amount that does not fit 64 bits.
    public static func atListPrice(of version: ProductVersion, quantity: Int64, purpose: Purpose) throws(MarketInputError) -> Quote {
        guard quantity >= 1 else { throw MarketInputError(field: "quantity", rule: "must be at least 1") }
        let (amount, overflow) = version.listPriceFen.multipliedReportingOverflow(by: quantity)
        guard !overflow, amount <= Money.maximumAmountFen else { throw Pricing.tooLarge }
        var lines = [Line(step: "list_price", detail: "\(version.listPriceFen) fen per \(version.chargeUnit.rawValue) × \(quantity)", amountFen: amount)]
        if purpose.isPublicInterest {
            lines.append(Line(step: "public_interest_free", detail: "\(purpose.rawValue) uses public data free of charge", amountFen: 0))
        }
        return Quote(quantity: quantity, amountFen: lines.last?.amountFen ?? amount, lines: lines, rules: [])
    }
}
