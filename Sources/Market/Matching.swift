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

    /// The score of a product for a demand, from readable components. Deterministic: the same inputs
    /// give the same score.
    public static func score(demand: DemandRequest, product: ProductVersion, quote: Quote) -> Score {
        let wanted = Set(demand.fieldsWanted), offered = Set(product.fields)
        let covered = wanted.intersection(offered)
        let fields = wanted.isEmpty ? 1 : Double(covered.count) / Double(wanted.count)
        let scenario = product.scenarios.contains(demand.scenario) ? 1.0 : 0.0
        let text = similarity(demand.title + " " + demand.description, product.title + " " + product.description)
        let tags = jaccard(Set(demand.tags), Set(product.tags))
        // A product made for fewer regions fits a regional demand more closely.
        let sharedRegions = Set(demand.regions).intersection(product.regions).count
        let region = product.regions.isEmpty ? 0 : Double(sharedRegions) / Double(product.regions.count)
        let price = demand.budgetFen <= 0 ? (quote.amountFen == 0 ? 1 : 0)
            : max(0, min(1, Double(demand.budgetFen - quote.amountFen) / Double(demand.budgetFen)))
        let values: [String: (Double, String)] = [
            "fields": (fields, "offers \(covered.count) of the \(wanted.count) fields wanted" + (covered.isEmpty ? "" : " (\(covered.sorted().joined(separator: ", ")))")),
            "scenario": (scenario, scenario == 1 ? "built for the scenario \(demand.scenario)" : "not built for the scenario \(demand.scenario)"),
            "text": (text, "title and description share \(Int((text * 100).rounded())) % of their character bigrams"),
            "tags": (tags, "shares \(Set(demand.tags).intersection(product.tags).count) tags"),
            "region": (region, "covers \(sharedRegions) of its \(product.regions.count) regions where wanted"),
            "price": (price, "quotes \(quote.amountFen) fen against a budget of \(demand.budgetFen) fen"),
        ]
        var total = 0.0
        var reasons: [Reason] = []
        for (component, weight) in weights {
            let (value, detail) = values[component] ?? (0, "")
            total += value * weight
            reasons.append(Reason(component: component, value: value, weight: weight, detail: detail))
        }
        return Score(total: min(1, max(0, total)), reasons: reasons)
    }

    /// Dice similarity of character bigrams, so that Chinese text (no spaces between words) and English
    /// text both compare; case and whitespace are ignored.
    public static func similarity(_ a: String, _ b: String) -> Double {
        func bigrams(_ text: String) -> [String: Int] {
            let characters = Array(text.lowercased().filter { !$0.isWhitespace && !$0.isPunctuation })
            guard characters.count >= 2 else { return characters.isEmpty ? [:] : [String(characters): 1] }
            var counts: [String: Int] = [:]
            for index in 0..<(characters.count - 1) { counts[String(characters[index...index + 1]), default: 0] += 1 }
            return counts
        }
        let x = bigrams(a), y = bigrams(b)
        let total = x.values.reduce(0, +) + y.values.reduce(0, +)
        guard total > 0 else { return 0 }
        let shared = x.reduce(0) { $0 + min($1.value, y[$1.key] ?? 0) }
        return 2 * Double(shared) / Double(total)
    }

    static func jaccard(_ a: Set<String>, _ b: Set<String>) -> Double {
        a.isEmpty && b.isEmpty ? 0 : Double(a.intersection(b).count) / Double(a.union(b).count)
    }
}
