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
        // Regions nest: a product for a province serves a demand for one of its districts, and the other way round.
        if !demand.regions.overlaps(product.regions) { found.append(.region) }
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
        /// The demand's distinct fields wanted and tags: a handful of short strings each, where a linear scan
        /// costs less than hashing.
        public let wanted: [String]
        public let tags: [String]
        let text: Bigrams
        /// The demand's regions as the codes they cover.
        let spans: [Range<Int>]

        public init(_ demand: DemandRequest) {
            self.demand = demand
            wanted = distinct(demand.fieldsWanted)
            tags = distinct(demand.tags)
            text = Bigrams(demand.title + " " + demand.description)
            spans = demand.regions.map(\.span)
        }

        /// The components that need no quote, for one product (their readable details are written only
        /// for the products that are scored in full).
        public struct Partial: Sendable {
            /// The weighted sum of every component but the price.
            public let total: Double
            let fields: Double, scenario: Double, text: Double, tags: Double, region: Double
            /// The product's fields (the ones wanted among them are named in the reasons).
            let offered: [String]
            let sharedTags: Int, sharedRegions: Int, broaderRegions: Int, productRegions: Int

            public init(_ scorer: borrowing Scorer, _ product: ProductVersion) {
                self.init(scorer, ProductFacts(product))
            }

            /// From facts prepared once (matching computes this for every candidate; it allocates nothing). The
            /// scorer is borrowed, here and in `Overlap`: an initializer owns its arguments by default, and the copy
            /// that needs retains every string and array of the demand, for every candidate.
            public init(_ scorer: borrowing Scorer, _ product: borrowing ProductFacts) {
                offered = product.offered
                let overlap = Overlap(scorer, product)
                fields = overlap.fields
                scenario = overlap.scenario
                text = scorer.text.dice(product.text)
                sharedTags = overlap.sharedTags
                tags = overlap.tags
                sharedRegions = overlap.within
                broaderRegions = overlap.broader
                productRegions = product.spans.count
                region = overlap.region
                // `weights` lists these five in this order, then the price; summed in that order from 0.
                var total = 0.0
                total += fields * Matching.weights[0].1
                total += scenario * Matching.weights[1].1
                total += text * Matching.weights[2].1
                total += tags * Matching.weights[3].1
                total += region * Matching.weights[4].1
                self.total = total
            }
        }

        /// The most a product's partial score can be, whatever its text: every component but the text, and the
        /// text's weight in full. Cheaper than `Partial` (no text to compare): matching orders candidates by it
        /// and scores in full only those that could still enter its top.
        public func bound(_ product: ProductVersion) -> Double {
            bound(ProductFacts(product))
        }

        /// The bound from facts prepared once.
        public func bound(_ product: ProductFacts) -> Double {
            Overlap(self, product).bound
        }

        /// The bound from what a product shares with the demand, counted by the caller (a catalogue in memory
        /// counts over numbered words, without reading the product's strings): `covered` of the demand's
        /// distinct fields wanted among the product's distinct fields, whether the demand's scenario is among
        /// the product's, `sharedTags` of the product's `productTags` distinct tags, and of its `regions`, how
        /// many lie `within` a region wanted or are `broader` than one (`fits`). The same arithmetic as `bound(_:)`.
        public func bound(covered: Int, scenario: Bool, sharedTags: Int, productTags: Int, regions: Int, within: Int, broader: Int) -> Double {
            Overlap(self, covered: covered, scenario: scenario, sharedTags: sharedTags, productTags: productTags,
                    regions: regions, within: within, broader: broader).bound
        }

        /// Of a product's `count` regions, `span(i)` the codes `lower..<upper` of the i-th, how many lie within a
        /// region wanted, and how many cover one (a province for a district) without lying within one.
        public func fits(_ count: Int, span: (Int) -> (lower: Int, upper: Int)) -> (within: Int, broader: Int) {
            var within = 0, broader = 0
            for index in 0..<count {
                let (lower, upper) = span(index)
                if spans.contains(where: { $0.contains(lower) && $0.upperBound >= upper }) {
                    within += 1
                } else if spans.contains(where: { lower <= $0.lowerBound && $0.lowerBound < upper && upper >= $0.upperBound }) {
                    broader += 1
                }
            }
            return (within, broader)
        }

        /// The demand's scenario (what `bound(covered:…)` counts against, beside `wanted` and `tags`).
        public var scenario: String { demand.scenario }

        /// What a product shares with the demand but its text, counted without allocating (matching counts it
        /// for every candidate): distinct fields offered that are wanted, distinct tags and those shared, regions
        /// within a region wanted or covering one.
        struct Overlap {
            var fields: Double, scenario: Double, tags: Double, region: Double
            var sharedTags: Int, within: Int, broader: Int

            init(_ scorer: borrowing Scorer, _ product: borrowing ProductFacts) {
                var covered = 0, sharedTags = 0
                for field in product.fields where scorer.wanted.contains(field) { covered += 1 }
                for tag in product.tags where scorer.tags.contains(tag) { sharedTags += 1 }
                let spans = product.spans
                let (within, broader) = scorer.fits(spans.count) { (spans[$0].lowerBound, spans[$0].upperBound) }
                self.init(scorer, covered: covered, scenario: product.scenarios.contains(scorer.demand.scenario), sharedTags: sharedTags,
                          productTags: product.tags.count, regions: product.spans.count, within: within, broader: broader)
            }

            init(_ scorer: borrowing Scorer, covered: Int, scenario: Bool, sharedTags: Int, productTags: Int, regions: Int, within: Int, broader: Int) {
                fields = scorer.wanted.isEmpty ? 1 : Double(covered) / Double(scorer.wanted.count)
                self.scenario = scenario ? 1.0 : 0.0
                self.sharedTags = sharedTags
                let union = scorer.tags.count + productTags - sharedTags
                tags = union == 0 ? 0 : Double(sharedTags) / Double(union)
                // A product made for fewer regions fits a regional demand more closely: a region of the product
                // within a region wanted counts fully, one that covers a region wanted (a province for a district) half.
                self.within = within
                self.broader = broader
                region = regions == 0 ? 0 : (Double(within) + Double(broader) / 2) / Double(regions)
            }

            /// Every component but the text, and the text's weight in full.
            var bound: Double {
                var total = 0.0
                total += fields * Matching.weights[0].1
                total += scenario * Matching.weights[1].1
                total += 1 * Matching.weights[2].1
                total += tags * Matching.weights[3].1
                total += region * Matching.weights[4].1
                return total
            }
        }

        /// The full score: the partial one and the price headroom under `quote`, with every reason.
        public func score(_ partial: Partial, quote: Quote) -> Score {
            let budget = demand.budgetFen
            let price = budget <= 0 ? (quote.amountFen == 0 ? 1 : 0) : max(0, min(1, Double(budget - quote.amountFen) / Double(budget)))
            let covered = Set(partial.offered.filter(wanted.contains)).sorted()
            let values: [String: (Double, String)] = [
                "fields": (partial.fields, "offers \(covered.count) of the \(wanted.count) fields wanted"
                    + (covered.isEmpty ? "" : " (\(covered.joined(separator: ", ")))")),
                "scenario": (partial.scenario, partial.scenario == 1 ? "built for the scenario \(demand.scenario)"
                    : "not built for the scenario \(demand.scenario)"),
                "text": (partial.text, "title and description share \(Int((partial.text * 100).rounded())) % of their character bigrams"),
                "tags": (partial.tags, "shares \(partial.sharedTags) tags"),
                "region": (partial.region, "\(partial.sharedRegions) of its \(partial.productRegions) regions lie where wanted"
                    + (partial.broaderRegions == 0 ? "" : ", \(partial.broaderRegions) cover a region wanted and more")),
                "price": (price, "quotes \(quote.amountFen) fen against a budget of \(budget) fen"),
            ]
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

    /// The character bigrams of a text, as sorted keys (a one-character text counts the character itself).
    /// What scoring reads of a product version, prepared once: a catalogue in memory keeps one per product,
    /// so that scoring a candidate copies no product and hashes no string.
    public final class ProductFacts: Sendable {
        /// Distinct, in the order offered.
        public let fields: [String]
        public let tags: [String]
        public let scenarios: [String]
        /// The regions as the codes they cover.
        public let spans: [Range<Int>]
        /// The title and description's bigrams.
        public let text: Bigrams
        /// Every field as offered (the reasons name the wanted ones).
        let offered: [String]

        /// `text`: the title and description's bigrams when already made.
        public init(_ product: ProductVersion, text: Bigrams? = nil) {
            fields = distinct(product.fields)
            tags = distinct(product.tags)
            scenarios = product.scenarios
            spans = product.regions.map(\.span)
            self.text = text ?? Bigrams(product.title + " " + product.description)
            offered = product.fields
        }
    }

    public struct Bigrams: Sendable {
        var keys: [UInt64] = []

        public init(_ text: String) {
            var previous: UInt32?
            keys.reserveCapacity(text.utf8.count)
            for scalar in text.unicodeScalars where !Self.ignored(scalar) {
                let value = Self.lowercased(scalar)
                if let previous { keys.append(UInt64(previous) << 32 | UInt64(value)) }
                previous = value
            }
            if keys.isEmpty, let previous { keys.append(UInt64(previous) << 32 | UInt64(UInt32.max)) }
            keys.sort()
        }

        /// 2 × shared / (total of both), bigrams counted with multiplicity; 0 when both are empty.
        public func dice(_ other: Bigrams) -> Double {
            guard !keys.isEmpty || !other.keys.isEmpty else { return 0 }
            var i = 0, j = 0, shared = 0
            while i < keys.count && j < other.keys.count {
                if keys[i] == other.keys[j] {
                    shared += 1; i += 1; j += 1
                } else if keys[i] < other.keys[j] {
                    i += 1
                } else {
                    j += 1
                }
            }
            return 2 * Double(shared) / Double(keys.count + other.keys.count)
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

/// The distinct elements in their first order; the array itself (no copy) when there is no repeat.
func distinct(_ values: [String]) -> [String] {
    for (index, value) in values.enumerated() where values[..<index].contains(value) {
        var seen: [String] = Array(values[..<index])
        for value in values[index...] where !seen.contains(value) { seen.append(value) }
        return seen
    }
    return values
}
