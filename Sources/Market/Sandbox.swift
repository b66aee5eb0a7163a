import Foundation

// The sandbox (rule 3, 可用不可见): buyers send analyses, never SQL; what leaves is aggregates over at least
// k distinct entities, with each entity's contribution bounded and Laplace noise calibrated to that bound.
// This file is the pure part: a dataset's columns, an analysis and its validation, the privacy arithmetic.

/// What a dataset's column may be used for.
public enum SandboxColumnRole: String, Sendable, Codable, CaseIterable {
    /// Identifies the person or organisation a row is about: never output, grouped or filtered (pdx
    /// stores only a number standing for it, never the identifier itself).
    case entity
    /// May be grouped by and filtered on.
    case dimension
    /// May be aggregated, within declared bounds.
    case measure
    /// Never used (and not stored).
    case hidden
}

/// How a column's values are stored and compared.
public enum SandboxColumnType: String, Sendable, Codable, CaseIterable {
    case text, integer, date, number
}

/// One column of a sandbox dataset as its operator declared it.
public struct SandboxColumn: Sendable, Equatable, Codable {
    public var name: String
    public var role: SandboxColumnRole
    public var type: SandboxColumnType
    /// A measure's bounds: each entity's total within one group is clipped to them.
    public var lower: Double?
    public var upper: Double?
    /// A dimension whose value never varies within an entity (found when the data is loaded; nil before).
    public var entityStable: Bool?

    public init(name: String, role: SandboxColumnRole, type: SandboxColumnType, lower: Double? = nil, upper: Double? = nil, entityStable: Bool? = nil) {
        self.name = name
        self.role = role
        self.type = type
        self.lower = lower
        self.upper = upper
        self.entityStable = entityStable
    }

    /// The largest change one entity can make to a sum of this measure in one group.
    public var bound: Double { max(abs(lower ?? 0), abs(upper ?? 0)) }

    /// Checks a declaration (names as `column`, the CSV header's).
    public static func check(_ columns: [SandboxColumn]) throws(MarketInputError) {
        guard (2...64).contains(columns.count) else { throw MarketInputError(field: "columns", rule: "must declare from 2 to 64 columns") }
        var seen = Set<String>()
        for column in columns {
            let field = "columns.\(column.name)"
            guard (1...63).contains(column.name.utf8.count), column.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw MarketInputError(field: field, rule: "a column name must be 1 to 63 bytes of letters, digits and underscores")
            }
            guard seen.insert(column.name).inserted else { throw MarketInputError(field: field, rule: "is declared twice") }
            switch column.role {
            case .measure:
                guard column.type == .number else { throw MarketInputError(field: field, rule: "a measure is a number") }
                guard let lower = column.lower, let upper = column.upper, lower.isFinite, upper.isFinite, lower < upper,
                      max(abs(lower), abs(upper)) <= 1e12 else {
                    throw MarketInputError(field: field, rule: "a measure needs bounds lower < upper, each within ±10^12 (e.g. income=0..100000)")
                }
            case .dimension:
                guard column.type != .number else { throw MarketInputError(field: field, rule: "a dimension is text, integer or date") }
                guard column.lower == nil, column.upper == nil else { throw MarketInputError(field: field, rule: "only measures have bounds") }
            case .entity, .hidden:
                guard column.lower == nil, column.upper == nil else { throw MarketInputError(field: field, rule: "only measures have bounds") }
            }
        }
        guard columns.filter({ $0.role == .entity }).count == 1 else {
            throw MarketInputError(field: "columns", rule: "must declare exactly one entity identifier column")
        }
        guard columns.contains(where: { $0.role == .dimension || $0.role == .measure }) else {
            throw MarketInputError(field: "columns", rule: "must declare at least one dimension or measure")
        }
    }
}

/// A dataset's privacy settings.
public struct SandboxSettings: Sendable, Equatable, Codable {
    public enum Period: String, Sendable, Codable, CaseIterable { case day, week, month }

    /// k: a group with fewer distinct entities is never output.
    public var minEntities: Int
    /// Epsilon all buyers together may spend per period.
    public var epsilonBudget: Double
    public var budgetPeriod: Period
    /// How many groups of one analysis an entity may count in (the rest of its groups drop it).
    public var maxGroupsPerEntity: Int
    /// An analysis running longer is cancelled.
    public var timeoutMilliseconds: Int

    public init(minEntities: Int = 10, epsilonBudget: Double = 10, budgetPeriod: Period = .month, maxGroupsPerEntity: Int = 1,
                timeoutMilliseconds: Int = 10_000) {
        self.minEntities = minEntities
        self.epsilonBudget = epsilonBudget
        self.budgetPeriod = budgetPeriod
        self.maxGroupsPerEntity = maxGroupsPerEntity
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// The least k for important data; other grades may go down to 2.
    public static let importantMinEntities = 10

    public func check(important: Bool) throws(MarketInputError) {
        let least = important ? Self.importantMinEntities : 2
        guard (least...1000).contains(minEntities) else {
            throw MarketInputError(field: "min_entities", rule: "must be from \(least) to 1000\(important ? " for important data" : "")")
        }
        guard epsilonBudget.isFinite, epsilonBudget > 0, epsilonBudget <= 100 else {
            throw MarketInputError(field: "epsilon_budget", rule: "must be above 0 and at most 100")
        }
        guard (1...100).contains(maxGroupsPerEntity) else { throw MarketInputError(field: "max_groups_per_entity", rule: "must be from 1 to 100") }
        guard (1...600_000).contains(timeoutMilliseconds) else { throw MarketInputError(field: "timeout_ms", rule: "must be from 1 to 600000") }
    }
}

/// A value a filter compares with, or a group's key: text (dates as `YYYY-MM-DD`) or an integer.
public enum SandboxValue: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    case text(String)
    case integer(Int64)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) { self = .integer(number) } else { self = .text(try container.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .integer(let number): try container.encode(number)
        }
    }

    public var description: String {
        switch self {
        case .text(let text): text
        case .integer(let number): String(number)
        }
    }
}

/// An analysis as a buyer sends it: statistics of measures, per group of dimension values, over the rows
/// the filters keep.
public struct SandboxAnalysisSpec: Sendable, Equatable, Codable {
    public enum Statistic: String, Sendable, Codable, CaseIterable {
        /// The number of distinct entities in the group.
        case countEntities = "count_entities"
        case sum, mean, quantile
    }

    public struct Measure: Sendable, Equatable, Codable {
        public var statistic: Statistic
        public var column: String?
        /// For `quantile`: from 0.01 to 0.99.
        public var quantile: Double?

        public init(statistic: Statistic, column: String? = nil, quantile: Double? = nil) {
            self.statistic = statistic
            self.column = column
            self.quantile = quantile
        }
    }

    public struct Filter: Sendable, Equatable, Codable {
        public enum Operation: String, Sendable, Codable, CaseIterable {
            case eq, ne, gte, lte, `in`, notIn = "not_in", between
        }

        public var column: String
        public var op: Operation
        /// For eq, ne, gte and lte.
        public var value: SandboxValue?
        /// For in and not_in (1 to 100 values) and between (the two ends, inclusive).
        public var values: [SandboxValue]?

        public init(column: String, op: Operation, value: SandboxValue? = nil, values: [SandboxValue]? = nil) {
            self.column = column
            self.op = op
            self.value = value
            self.values = values
        }
    }

    public var measures: [Measure]
    public var groupBy: [String]
    public var filters: [Filter]
    /// The privacy loss this analysis spends from the dataset's budget.
    public var epsilon: Double

    public init(measures: [Measure], groupBy: [String] = [], filters: [Filter] = [], epsilon: Double = Self.defaultEpsilon) {
        self.measures = measures
        self.groupBy = groupBy
        self.filters = filters
        self.epsilon = epsilon
    }

    public static let defaultEpsilon = 1.0
    public static let epsilonRange = 0.01...10.0

    enum CodingKeys: String, CodingKey {
        case measures, groupBy = "group_by", filters, epsilon
    }

    /// Omitted `group_by` and `filters` are empty; an omitted epsilon is `defaultEpsilon`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        measures = try container.decode([Measure].self, forKey: .measures)
        groupBy = try container.decodeIfPresent([String].self, forKey: .groupBy) ?? []
        filters = try container.decodeIfPresent([Filter].self, forKey: .filters) ?? []
        epsilon = try container.decodeIfPresent(Double.self, forKey: .epsilon) ?? Self.defaultEpsilon
    }
}

/// An analysis checked against its dataset's columns: what the database must compute, and how much
/// noise each released figure gets.
public struct SandboxPlan: Sendable, Equatable {
    /// A filter with its column's position and its values typed as the column stores them.
    public struct Filter: Sendable, Equatable {
        public var column: Int
        public var type: SandboxColumnType
        public var op: SandboxAnalysisSpec.Filter.Operation
        public var values: [SandboxValue]
    }

    public var spec: SandboxAnalysisSpec
    public var columns: [SandboxColumn]
    /// Positions (in `columns`) of the grouped dimensions, in `group_by`'s order.
    public var groupBy: [Int]
    public var filters: [Filter]
    /// Measures whose per-entity sums the database computes (for sum, mean and quantile), positions in `columns`.
    public var summed: [Int]
    /// Measures that need a histogram (for quantiles).
    public var histogrammed: [Int]
    public var settings: SandboxSettings

    /// Bins of a quantile's histogram between a measure's bounds.
    public static let histogramBins = 32
    /// The most groups a result holds (more are cut, and the result says so).
    public static let maximumRows = 1000

    /// How many figures per group share the epsilon: the entity count, each summed measure, each histogram.
    public var releases: Int { 1 + Set(spec.measures.filter { $0.statistic == .sum || $0.statistic == .mean }.compactMap(\.column)).count + histogrammed.count }
    /// Whether an entity can fall in more than one group: not when every grouped dimension is stable within entities.
    public var entitiesMaySpanGroups: Bool { groupBy.contains { columns[$0].entityStable != true } }
    /// Epsilon per released figure.
    public var epsilonEach: Double { spec.epsilon / Double(releases) }
    /// Laplace scale of a group's entity count and of each histogram bin: one entity changes at most
    /// `maxGroupsPerEntity` groups by one.
    public var countScale: Double { Double(settings.maxGroupsPerEntity) / epsilonEach }
    /// Laplace scale of a sum of the measure at `position`.
    public func sumScale(_ position: Int) -> Double { Double(settings.maxGroupsPerEntity) * columns[position].bound / epsilonEach }

    /// Checks `spec` against the dataset's columns; every refusal names the field and the rule.
    public init(_ spec: SandboxAnalysisSpec, columns: [SandboxColumn], settings: SandboxSettings) throws(MarketInputError) {
        self.spec = spec
        self.columns = columns
        self.settings = settings
        func position(_ name: String?, _ field: String, as role: SandboxColumnRole) throws(MarketInputError) -> Int {
            guard let name, !name.isEmpty else { throw MarketInputError(field: field, rule: "must name a column") }
            guard let index = columns.firstIndex(where: { $0.name == name }) else {
                throw MarketInputError(field: field, rule: "names no column of this dataset (\(columns.filter { $0.role == role }.map(\.name).joined(separator: ", ")) may be used here)")
            }
            let column = columns[index]
            switch column.role {
            case .entity: throw MarketInputError(field: field, rule: "\(name) is the entity identifier: it is never output, grouped or filtered")
            case .hidden: throw MarketInputError(field: field, rule: "\(name) is hidden: it is never used")
            case role: return index
            default: throw MarketInputError(field: field, rule: "\(name) is a \(column.role.rawValue), not a \(role.rawValue)")
            }
        }
        guard SandboxAnalysisSpec.epsilonRange.contains(spec.epsilon), spec.epsilon.isFinite else {
            throw MarketInputError(field: "epsilon", rule: "must be from \(SandboxAnalysisSpec.epsilonRange.lowerBound) to \(SandboxAnalysisSpec.epsilonRange.upperBound)")
        }
        guard spec.epsilon <= settings.epsilonBudget else {
            throw MarketInputError(field: "epsilon", rule: "must be at most the dataset's budget per \(settings.budgetPeriod.rawValue), \(settings.epsilonBudget)")
        }
        guard (1...20).contains(spec.measures.count) else { throw MarketInputError(field: "measures", rule: "must hold from 1 to 20 measures") }
        var summed: [Int] = [], histogrammed: [Int] = []
        for (index, measure) in spec.measures.enumerated() {
            let field = "measures[\(index)]"
            if measure.statistic == .countEntities {
                guard measure.column == nil else { throw MarketInputError(field: "\(field).column", rule: "count_entities counts entities: it takes no column") }
                guard measure.quantile == nil else { throw MarketInputError(field: "\(field).quantile", rule: "only a quantile takes one") }
                continue
            }
            let column = try position(measure.column, "\(field).column", as: .measure)
            if measure.statistic == .quantile {
                guard let q = measure.quantile, (0.01...0.99).contains(q) else {
                    throw MarketInputError(field: "\(field).quantile", rule: "must be from 0.01 to 0.99")
                }
                if !histogrammed.contains(column) { histogrammed.append(column) }
            } else if measure.quantile != nil {
                throw MarketInputError(field: "\(field).quantile", rule: "only a quantile takes one")
            }
            if !summed.contains(column) { summed.append(column) }
        }
        guard spec.groupBy.count <= 3 else { throw MarketInputError(field: "group_by", rule: "may name at most 3 dimensions") }
        var groupBy: [Int] = []
        for (index, name) in spec.groupBy.enumerated() {
            let column = try position(name, "group_by[\(index)]", as: .dimension)
            guard !groupBy.contains(column) else { throw MarketInputError(field: "group_by[\(index)]", rule: "names \(name) twice") }
            groupBy.append(column)
        }
        guard spec.filters.count <= 20 else { throw MarketInputError(field: "filters", rule: "may hold at most 20 filters") }
        var filters: [Filter] = []
        for (index, filter) in spec.filters.enumerated() {
            let field = "filters[\(index)]"
            let column = try position(filter.column, "\(field).column", as: .dimension)
            let type = columns[column].type
            let values: [SandboxValue]
            switch filter.op {
            case .eq, .ne, .gte, .lte:
                guard let value = filter.value, filter.values == nil else {
                    throw MarketInputError(field: "\(field).value", rule: "\(filter.op.rawValue) compares with one value")
                }
                values = [value]
            case .in, .notIn:
                guard filter.value == nil, let list = filter.values, (1...100).contains(list.count) else {
                    throw MarketInputError(field: "\(field).values", rule: "\(filter.op.rawValue) takes from 1 to 100 values")
                }
                values = list
            case .between:
                guard filter.value == nil, let list = filter.values, list.count == 2 else {
                    throw MarketInputError(field: "\(field).values", rule: "between takes two values, its ends (inclusive)")
                }
                values = list
            }
            for (offset, value) in values.enumerated() {
                try Self.checkValue(value, type: type, field: filter.value == nil ? "\(field).values[\(offset)]" : "\(field).value")
            }
            filters.append(Filter(column: column, type: type, op: filter.op, values: values))
        }
        self.groupBy = groupBy
        self.filters = filters
        self.summed = summed
        self.histogrammed = histogrammed
    }

    static func checkValue(_ value: SandboxValue, type: SandboxColumnType, field: String) throws(MarketInputError) {
        switch (type, value) {
        case (.integer, .integer): return
        case (.text, .text(let text)):
            guard text.utf8.count <= 256 else { throw MarketInputError(field: field, rule: "must be at most 256 bytes") }
        case (.date, .text(let text)):
            guard CalendarDay(text) != nil else { throw MarketInputError(field: field, rule: "must be a date, YYYY-MM-DD") }
        case (.text, .integer), (.date, .integer):
            throw MarketInputError(field: field, rule: "must be a string: the column is \(type.rawValue)")
        case (.integer, .text), (.number, _):
            throw MarketInputError(field: field, rule: "must be an integer: the column is integer")
        }
    }
}

/// A date as `YYYY-MM-DD` (checked, not converted).
struct CalendarDay {
    init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day) else { return nil }
        var components = DateComponents()
        (components.year, components.month, components.day) = (year, month, day)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        guard let date = calendar.date(from: components), calendar.component(.day, from: date) == day else { return nil }
    }
}

/// One group's true figures, as the database computed them (never released as they are).
public struct SandboxGroupTruth: Sendable, Equatable {
    public var keys: [SandboxValue?]
    /// Distinct entities counted (after bounding each entity's groups).
    public var entities: Int
    /// Per summed measure (in `SandboxPlan.summed`'s order): the sum of the entities' clipped totals.
    public var sums: [Double]
    /// Per histogrammed measure (in `SandboxPlan.histogrammed`'s order): entities per bin.
    public var histograms: [[Int]]

    public init(keys: [SandboxValue?], entities: Int, sums: [Double], histograms: [[Int]]) {
        self.keys = keys
        self.entities = entities
        self.sums = sums
        self.histograms = histograms
    }
}

/// What an analysis releases: noisy figures of the groups that pass the threshold.
public struct SandboxResult: Sendable, Equatable, Codable {
    public struct Figure: Sendable, Equatable, Codable {
        public var statistic: SandboxAnalysisSpec.Statistic
        public var column: String?
        public var quantile: Double?
        public var value: Double
        /// The figure is within this of the value computed without noise (over the same bounded
        /// contributions) with probability `confidence`; nil for quantiles (see `resolution`).
        public var error: Double?
        /// A quantile's bin width: its value is known to about this much at best.
        public var resolution: Double?
    }

    public struct Group: Sendable, Equatable, Codable {
        public var keys: [String?]
        public var figures: [Figure]
    }

    public var groupBy: [String]
    public var groups: [Group]
    /// The probability each figure's error bound holds.
    public var confidence: Double
    /// k: groups with fewer distinct entities are not shown.
    public var minEntities: Int
    public var epsilon: Double
    /// More groups passed than a result holds (`SandboxPlan.maximumRows`); the rest are cut.
    public var truncated: Bool

    enum CodingKeys: String, CodingKey {
        case groupBy = "group_by", groups, confidence, minEntities = "min_entities", epsilon, truncated
    }
}

/// Laplace noise: from the kernel's cryptographically secure generator in production, from a seeded one in tests.
public enum Laplace {
    /// One draw with scale `scale` (mean 0; P(|x| > t) = exp(-t / scale)).
    public static func sample<Generator: RandomNumberGenerator>(scale: Double, using generator: inout Generator) -> Double {
        var u = 0.0
        while u == 0 { u = Double(generator.next() >> 11) * 0x1p-53 }
        let x = u - 0.5
        return -scale * (x < 0 ? -1 : 1) * log(1 - 2 * abs(x))
    }

    /// The bound |noise| stays within with probability `confidence`.
    public static func bound(scale: Double, confidence: Double) -> Double { scale * log(1 / (1 - confidence)) }

    /// Rounds a noisy figure to a tenth of its noise's order of magnitude, so its low bits carry nothing
    /// about the true value (the floating-point attack on naive Laplace sampling reads them).
    public static func coarsen(_ value: Double, scale: Double) -> Double {
        guard scale > 0, value.isFinite else { return value }
        let step = pow(10, floor(log10(scale)) - 1)
        return (value / step).rounded() * step
    }
}

extension SandboxPlan {
    /// The confidence of the error bounds results state.
    public static let confidence = 0.95

    /// Releases the groups: each needs at least k distinct entities both truly and after noise; every
    /// figure gets fresh noise from `generator`. Returns the result and how many groups were suppressed.
    public func release<Generator: RandomNumberGenerator>(_ truths: [SandboxGroupTruth], using generator: inout Generator)
        -> (result: SandboxResult, suppressed: Int) {
        var groups: [SandboxResult.Group] = [], suppressed = 0
        let k = Double(settings.minEntities)
        // Error bounds at 97.5% for a mean's two parts, so the mean's holds at 95% (a union bound).
        let half = 1 - (1 - Self.confidence) / 2
        for truth in truths.sorted(by: { Self.order($0.keys, $1.keys) }) {
            let count = truth.entities
            let noisyCount = Double(count) + Laplace.sample(scale: countScale, using: &generator)
            guard count >= settings.minEntities, noisyCount >= k else { suppressed += 1; continue }
            var noisySums: [Int: Double] = [:]
            for (offset, column) in summed.enumerated() {
                noisySums[column] = truth.sums[offset] + Laplace.sample(scale: sumScale(column), using: &generator)
            }
            var quantileFigures: [Int: [Double: Double]] = [:]
            for (offset, column) in histogrammed.enumerated() {
                let bins = truth.histograms[offset].map { max(0, Double($0) + Laplace.sample(scale: countScale, using: &generator)) }
                var values: [Double: Double] = [:]
                for measure in spec.measures where measure.statistic == .quantile && measure.column == columns[column].name {
                    if let q = measure.quantile { values[q] = quantile(q, of: bins, column: column) }
                }
                quantileFigures[column] = values
            }
            var figures: [SandboxResult.Figure] = []
            for measure in spec.measures {
                let column = measure.column.flatMap { name in columns.firstIndex { $0.name == name } }
                switch (measure.statistic, column) {
                case (.countEntities, _):
                    figures.append(.init(statistic: .countEntities, value: noisyCount.rounded(),
                                         error: Laplace.bound(scale: countScale, confidence: Self.confidence)))
                case (.sum, let column?):
                    let scale = sumScale(column)
                    figures.append(.init(statistic: .sum, column: measure.column, value: Laplace.coarsen(noisySums[column] ?? 0, scale: scale),
                                         error: Laplace.bound(scale: scale, confidence: Self.confidence)))
                case (.mean, let column?):
                    let (lower, upper) = (columns[column].lower ?? 0, columns[column].upper ?? 0)
                    let sum = noisySums[column] ?? 0, denominator = max(noisyCount, 1)
                    let mean = min(max(sum / denominator, lower), upper)
                    let sumError = Laplace.bound(scale: sumScale(column), confidence: half)
                    let countError = Laplace.bound(scale: countScale, confidence: half)
                    // |S'/N' - S/N| <= (e_S + |S'/N'| e_N) / (N' - e_N) when both parts are within their bounds.
                    let error = noisyCount - countError > 0 ? (sumError + abs(mean) * countError) / (noisyCount - countError) : upper - lower
                    figures.append(.init(statistic: .mean, column: measure.column, value: Laplace.coarsen(mean, scale: error / 3),
                                         error: min(error, upper - lower)))
                case (.quantile, let column?):
                    let width = ((columns[column].upper ?? 0) - (columns[column].lower ?? 0)) / Double(Self.histogramBins)
                    let value = measure.quantile.flatMap { quantileFigures[column]?[$0] } ?? 0
                    figures.append(.init(statistic: .quantile, column: measure.column, quantile: measure.quantile,
                                         value: Laplace.coarsen(value, scale: width), resolution: width))
                case (_, nil):
                    continue
                }
            }
            groups.append(.init(keys: truth.keys.map { $0?.description }, figures: figures))
        }
        let truncated = groups.count > Self.maximumRows
        return (SandboxResult(groupBy: spec.groupBy, groups: Array(groups.prefix(Self.maximumRows)), confidence: Self.confidence,
                              minEntities: settings.minEntities, epsilon: spec.epsilon, truncated: truncated), suppressed)
    }

    /// The `q` quantile of noisy bin counts, interpolated within its bin.
    func quantile(_ q: Double, of bins: [Double], column: Int) -> Double {
        let lower = columns[column].lower ?? 0, upper = columns[column].upper ?? 0
        let width = (upper - lower) / Double(bins.count)
        let total = bins.reduce(0, +)
        guard total > 0 else { return lower + (upper - lower) * q }
        var seen = 0.0
        for (index, count) in bins.enumerated() {
            if count > 0, seen + count >= q * total {
                return lower + width * (Double(index) + (q * total - seen) / count)
            }
            seen += count
        }
        return upper
    }

    /// Groups in key order (nulls last), so a result reads the same way each time.
    static func order(_ a: [SandboxValue?], _ b: [SandboxValue?]) -> Bool {
        for (x, y) in zip(a, b) where x != y {
            switch (x, y) {
            case (nil, _): return false
            case (_, nil): return true
            case (.integer(let l)?, .integer(let r)?): return l < r
            case (let l?, let r?): return l.description < r.description
            }
        }
        return false
    }
}
