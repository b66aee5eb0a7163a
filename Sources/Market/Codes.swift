import Foundation

/// A unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from the 31 of 0-9 and
/// A-Y without I, O, S, V and Z, whose last character is a check over the first seventeen.
public struct CreditCode: Hashable, Sendable, Codable, CustomStringConvertible {
    public let value: String

    static let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    static let weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

    public init(_ text: String) throws(MarketInputError) {
        let characters = Array(text)
        guard characters.count == 18 else {
            throw MarketInputError(field: "credit_code", rule: "must have 18 characters, got \(characters.count)")
        }
        var values: [Int] = []
        for character in characters {
            guard let value = Self.alphabet.firstIndex(of: character) else {
                throw MarketInputError(field: "credit_code", rule: "may hold only 0-9 and A-Y without I, O, S, V, Z; found '\(character)'")
            }
            values.append(value)
        }
        guard RegionCode.isValid(String(characters[2..<8])) else {
            throw MarketInputError(field: "credit_code", rule: "characters 3 to 8 must be an administrative division code")
        }
        let check = Self.checkCharacter(values.prefix(17))
        guard characters[17] == check else {
            throw MarketInputError(field: "credit_code", rule: "check character must be '\(check)' (GB 32100-2015), got '\(characters[17])'")
        }
        value = text
    }

    static func checkCharacter(_ values: some Collection<Int>) -> Character {
        let total = zip(values, weights).reduce(0) { $0 + $1.0 * $1.1 }
        return alphabet[(31 - total % 31) % 31]
    }

    /// Completes the first seventeen characters with their check character (for seed data).
    public static func completing(_ prefix: String) throws(MarketInputError) -> CreditCode {
        let values = prefix.compactMap { alphabet.firstIndex(of: $0) }
        guard prefix.count == 17, values.count == 17 else {
            throw MarketInputError(field: "credit_code", rule: "needs 17 characters of the code's alphabet to complete")
        }
        return try CreditCode(prefix + String(checkCharacter(values)))
    }

    public var description: String { value }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// An administrative division code (GB/T 2260): six digits whose first two name a province-level division.
public struct RegionCode: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public let value: String

    static let provinces: Set<String> = [
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
        "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
    ]

    public init(_ text: String, field: String = "region_code") throws(MarketInputError) {
        guard Self.isValid(text) else {
            throw MarketInputError(field: field, rule: "must be a six-digit administrative division code (GB/T 2260), got '\(text)'")
        }
        value = text
    }

    static func isValid(_ text: String) -> Bool {
        text.utf8.count == 6 && text.utf8.allSatisfy { (48...57).contains($0) } && provinces.contains(String(text.prefix(2)))
    }

    /// The province-level division containing this one (`310115` → `310000`).
    public var province: RegionCode { RegionCode(unchecked: String(value.prefix(2)) + "0000") }

    /// The codes this division covers, as GB/T 2260 nests them: `PP0000` a province-level division,
    /// `PPCC00` a prefecture-level one inside it, `PPCCDD` a county-level one inside that (`PP00DD`
    /// directly under the province). `110000` covers 110000 up to 119999; `110101` only itself. Mirrors
    /// `pdx_region_span` (sql/0014_region_hierarchy.sql).
    public var span: Range<Int> {
        // Six ASCII digits (checked at init), read without making a string or an integer parser.
        var number = 0
        for byte in value.utf8 { number = number &* 10 &+ Int(byte &- 48) }
        if number % 10_000 == 0 { return number..<(number + 10_000) }
        if number % 100 == 0 { return number..<(number + 100) }
        return number..<(number + 1)
    }

    /// This division and the divisions containing it, itself first (`310115` → 310115, 310100, 310000).
    /// Mirrors `pdx_region_lineage`.
    public var lineage: [RegionCode] {
        let province = String(value.prefix(2)) + "0000"
        if value.hasSuffix("0000") { return [self] }
        let city = String(value.prefix(4)) + "00"
        if value.hasSuffix("00") || value.dropFirst(2).hasPrefix("00") { return [self, RegionCode(unchecked: province)] }
        return [self, RegionCode(unchecked: city), RegionCode(unchecked: province)]
    }

    /// Whether `other` lies within this division (or is it).
    public func covers(_ other: RegionCode) -> Bool {
        let outer = span, inner = other.span
        return outer.contains(inner.lowerBound) && outer.upperBound >= inner.upperBound
    }

    /// Whether one of the two lies within the other.
    public func overlaps(_ other: RegionCode) -> Bool { covers(other) || other.covers(self) }

    init(unchecked value: String) { self.value = value }

    public var description: String { value }
    public static func < (a: RegionCode, b: RegionCode) -> Bool { a.value < b.value }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// Input that breaks a rule of the market's data, naming the field and the rule.
public struct MarketInputError: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var rule: String

    public init(field: String, rule: String) {
        self.field = field
        self.rule = rule
    }

    public var description: String { "\(field) \(rule)" }
}

/// Checks a list of short lowercase identifiers (scenarios, tags, fields).
public func validateSlugs(_ values: [String], field: String, allowEmpty: Bool = false) throws(MarketInputError) {
    guard allowEmpty || !values.isEmpty else { throw MarketInputError(field: field, rule: "must not be empty") }
    guard values.count <= 200 else { throw MarketInputError(field: field, rule: "must have at most 200 entries") }
    for value in values {
        let bytes = Array(value.utf8)
        let ok = (1...64).contains(bytes.count)
            && bytes.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 || $0 == 46 || $0 == 45 }
            && bytes[0] != 95 && bytes[0] != 46 && bytes[0] != 45
        guard ok else {
            throw MarketInputError(field: field, rule: "entries must be 1 to 64 of a-z, 0-9, '_', '.', '-' starting with a letter or digit; got '\(value)'")
        }
    }
    guard Set(values).count == values.count else { throw MarketInputError(field: field, rule: "must not repeat an entry") }
}

/// Checks a piece of text a person wrote. Its length is counted in Unicode code points, as PostgreSQL's
/// `length()` and JSON Schema's `maxLength` count it (🇨🇳 is two). U+0000 is refused: it is valid JSON,
/// but no text column of PostgreSQL can hold it.
public func validateText(_ value: String, field: String, maxLength: Int, required: Bool = true) throws(MarketInputError) {
    let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
    if required && trimmed.isEmpty { throw MarketInputError(field: field, rule: "must not be empty") }
    guard value.unicodeScalars.count <= maxLength else { throw MarketInputError(field: field, rule: "must have at most \(maxLength) characters") }
    guard !value.utf8.contains(0) else { throw MarketInputError.nulCharacter(field) }
}

extension MarketInputError {
    /// Text holding U+0000.
    public static func nulCharacter(_ field: String) -> MarketInputError {
        MarketInputError(field: field, rule: "must not contain the character U+0000")
    }
}

extension Array where Element == RegionCode {
    /// Whether some code of this list covers, or lies within, some code of `other` (`pdx_regions_overlap`).
    public func overlaps(_ other: [RegionCode]) -> Bool { contains { mine in other.contains { mine.overlaps($0) } } }

    /// Whether every division of `other` lies within some division of this list.
    public func covers(_ other: [RegionCode]) -> Bool { other.allSatisfy { theirs in contains { $0.covers(theirs) } } }

    /// The most regions a list may hold.
    public static var maximumRegions: Int { 200 }

    /// Checks a list of regions: 1 to 200, none twice.
    public func validate(field: String) throws(MarketInputError) {
        guard !isEmpty else { throw MarketInputError(field: field, rule: "must not be empty") }
        guard count <= Self.maximumRegions else { throw MarketInputError(field: field, rule: "must have at most \(Self.maximumRegions) regions") }
        guard Set(self).count == count else { throw MarketInputError(field: field, rule: "must not repeat a region") }
    }

    /// Refuses a list in which one division lies within another (`310115` beside `310000` says nothing more).
    public func validateNotNested(field: String) throws(MarketInputError) {
        for region in self {
            if let outer = first(where: { $0 != region && $0.covers(region) }) {
                throw MarketInputError(field: field, rule: "must not list \(region) beside \(outer), which covers it")
            }
        }
    }
}

/// The bounds of money and quantities (also CHECKs in sql/0013_money_bounds.sql): within them, a unit
/// price times a quantity either is an amount an order may have or is refused, and 64 bits never overflow.
public enum Money {
    /// The most a unit may cost: 10^10 fen (100 million yuan).
    public static let maximumUnitPriceFen: Int64 = 10_000_000_000
    /// The largest amount: a budget, a quote, an order, an allowance, a fee of a pricing rule (10^15 fen, 10 trillion yuan).
    public static let maximumAmountFen: Int64 = 1_000_000_000_000_000
    /// The largest quantity of a demand or an order.
    public static let maximumQuantity: Int64 = 1_000_000_000_000

    /// Checks an amount in fen: from 0 to `maximum`.
    public static func validate(_ fen: Int64, field: String, maximum: Int64 = maximumAmountFen) throws(MarketInputError) {
        guard fen >= 0 else { throw MarketInputError(field: field, rule: "must not be negative") }
        guard fen <= maximum else { throw MarketInputError(field: field, rule: "must be at most \(maximum) fen") }
    }
}
