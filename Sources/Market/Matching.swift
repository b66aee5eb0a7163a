/// Matching a demand request to a product (the pure part: hard rules and the score; MarketStore finds
/// the candidates with indexes).
public enum Matching {
    /// One scoring component, kept as a reason a person can read.
    public struct Reason: Sendable, Codable, Hashable {
        /// `fields`, `scenario`, `text`, `tags`, `region`, `price`.
        public var component: String
        /// From 0 to 1.
        public var value: Double
        public var weight: Double
        public var detail: String
    }

    public struct Score: Sendable, Codable, Hashable {
        /// From 0 to 1: the weighted mean of the components.
        public var total: Double
        public var reasons: [Reason]
    }

    /// A rule that rules a product out for a demand, whatever its score.
    public enum Exclusion: String, Sendable, Codable, CaseIterable {
        case sector, region, deliveryMode = "delivery_mode", budget
    }

    /// The hard rules that need only the demand, the product version and its quote (the store also
    /// checks the authorization in force and the anti-monopoly rule, which need the database).
    public static func exclusions(demand: DemandRequest, product: ProductVersion, quote: Quote) -> [Exclusion] {
        var found: [Exclusion] = []
        if demand.sector != product.sector { found.append(.sector) }
        if Set(demand.regions).isDisjoint(with: product.regions) { found.append(.region) }
        if Set(demand.deliveryModes).isDisjoint(with: product.deliveryModes) { found.append(.deliveryMode) }
        if quote.amountFen > demand.budgetFen { found.append(.budget) }
        return found
    }

    static let weights: [(String, Double)] = [("fields", 0.35), ("scenario", 0.2), ("text", 0.2), ("tags", 0.1), ("region", 0.05), ("price", 0.1)]
    /// The most the price component can add: a score without it plus this bounds the full score.
    public static let priceWeight = 0.1

    /// The score of a product for a demand, from readable components. Deterministic: the same inputs
    /// give the same score.
    public static func score(demand: DemandRequest, product: ProductVersion, quote: Quote) -> Score {
        Scorer(demand).score(Scorer.Partial(Scorer(demand), product), quote: quote)
    }

    /// Scores many products for one demand: what depends on the demand alone (its bigrams, its sets) is
    /// computed once, and everything but the price (which needs a quote) can be scored before pricing.
    public struct Scorer: Sendable {
        let demand: DemandRequest
        let wanted: Set<String>
        let tags: Set<String>
        let regions: Set<RegionCode>
        let text: Bigrams

        public init(_ demand: DemandRequest) {
            self.demand = demand
            wanted = Set(demand.fieldsWanted)
            tags = Set(demand.tags)
            regions = Set(demand.regions)
            text = Bigrams(demand.title + " " + demand.description)
        }

        /// The components that need no quote, for one product.
        public struct Partial: Sendable {
            /// The weighted sum of every component but the price.
            public let total: Double
            let values: [String: (Double, String)]

            public init(_ scorer: Scorer, _ product: ProductVersion) {
                let covered = scorer.wanted.intersection(product.fields)
                let fields = scorer.wanted.isEmpty ? 1 : Double(covered.count) / Double(scorer.wanted.count)
                let scenario = product.scenarios.contains(scorer.demand.scenario) ? 1.0 : 0.0
                let text = scorer.text.dice(Bigrams(product.title + " " + product.description))
                let productTags = Set(product.tags)
                let union = scorer.tags.union(productTags).count
                let sharedTags = scorer.tags.intersection(productTags).count
                let tags = union == 0 ? 0 : Double(sharedTags) / Double(union)
                // A product made for fewer regions fits a regional demand more closely.
                let sharedRegions = scorer.regions.intersection(product.regions).count
                let region = product.regions.isEmpty ? 0 : Double(sharedRegions) / Double(product.regions.count)
                let scenarioName = scorer.demand.scenario
                values = [
                    "fields": (fields, "offers \(covered.count) of the \(scorer.wanted.count) fields wanted"
                        + (covered.isEmpty ? "" : " (\(covered.sorted().joined(separator: ", ")))")),
                    "scenario": (scenario, scenario == 1 ? "built for the scenario \(scenarioName)" : "not built for the scenario \(scenarioName)"),
                    "text": (text, "title and description share \(Int((text * 100).rounded())) % of their character bigrams"),
                    "tags": (tags, "shares \(sharedTags) tags"),
                    "region": (region, "covers \(sharedRegions) of its \(product.regions.count) regions where wanted"),
                ]
                var total = 0.0
                for (component, weight) in Matching.weights { total += (values[component]?.0 ?? 0) * weight }
                self.total = total
            }
        }

        /// The full score: the partial one and the price headroom under `quote`.
        public func score(_ partial: Partial, quote: Quote) -> Score {
            let budget = demand.budgetFen
            let price = budget <= 0 ? (quote.amountFen == 0 ? 1 : 0) : max(0, min(1, Double(budget - quote.amountFen) / Double(budget)))
            var values = partial.values
            values["price"] = (price, "quotes \(quote.amountFen) fen against a budget of \(budget) fen")
            var total = 0.0
            var reasons: [Reason] = []
            for (component, weight) in Matching.weights {
                let (value, detail) = values[component] ?? (0, "")
                total += value * weight
                reasons.append(Reason(component: component, value: value, weight: weight, detail: detail))
            }
            return Score(total: min(1, max(0, total)), reasons: reasons)
        }
    }

    /// Dice similarity of character bigrams, so that Chinese text (no spaces between words) and English
    /// text both compare; case, whitespace and punctuation are ignored.
    public static func similarity(_ a: String, _ b: String) -> Double {
        Bigrams(a).dice(Bigrams(b))
    }

    /// The character bigrams of a text, counted (a one-character text counts the character itself).
    public struct Bigrams: Sendable {
        var counts: [UInt64: Int32] = [:]
        var total = 0

        public init(_ text: String) {
            var previous: UInt32?
            var single: UInt32?
            for scalar in text.unicodeScalars where !Self.ignored(scalar) {
                let value = Self.lowercased(scalar)
                if let previous {
                    counts[UInt64(previous) << 32 | UInt64(value), default: 0] += 1
                    total += 1
                    single = nil
                } else {
                    single = value
                }
                previous = value
            }
            if total == 0, let single {
                counts[UInt64(single) << 32 | UInt64(UInt32.max), default: 0] = 1
                total = 1
            }
        }

        /// 2 × shared / (total of both); 0 when both are empty.
        public func dice(_ other: Bigrams) -> Double {
            guard total + other.total > 0 else { return 0 }
            let (small, large) = counts.count <= other.counts.count ? (counts, other.counts) : (other.counts, counts)
            var shared = 0
            for (key, count) in small { shared += Int(min(count, large[key] ?? 0)) }
            return 2 * Double(shared) / Double(total + other.total)
        }

        static func ignored(_ scalar: Unicode.Scalar) -> Bool {
            if scalar.isASCII, (48...57).contains(scalar.value) || (65...90).contains(scalar.value) || (97...122).contains(scalar.value) {
                return false
            }
            if scalar.properties.isWhitespace { return true }
            switch scalar.properties.generalCategory {
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
                 .finalPunctuation, .otherPunctuation: return true
            default: return false
            }
        }

        static func lowercased(_ scalar: Unicode.Scalar) -> UInt32 {
            let v = scalar.value
            if v < 128 { return (65...90).contains(v) ? v + 32 : v }
            guard scalar.properties.changesWhenLowercased else { return v }
            return scalar.properties.lowercaseMapping.unicodeScalars.first?.value ?? v
        }
    }
}
