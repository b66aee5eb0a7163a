/// A calendar day without time or zone: PostgreSQL's `date`.
public struct CalendarDate: PostgresCodable, PostgresArrayElement, Hashable, Comparable, Codable, CustomStringConvertible {
    public static var postgresType: PostgresType { .date }
    public static var postgresArrayType: PostgresType { .dateArray }

    /// Days since 2000-01-01, PostgreSQL's epoch.
    public let daysSince2000: Int32

    public init(daysSince2000: Int32) { self.daysSince2000 = daysSince2000 }

    /// nil if the day does not exist (such as February 30).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
              let days = Int32(exactly: Self.daysFromCivil(year: year, month: month, day: day) - 10_957)
        else { return nil }
        daysSince2000 = days
    }

    /// Parses "YYYY-MM-DD".
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    public var components: (year: Int, month: Int, day: Int) { Self.civil(fromDays: Int(daysSince2000) + 10_957) }

    public var description: String {
        let (year, month, day) = components
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let yearText = String(year)
        return String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + "-" + two(month) + "-" + two(day)
    }

    public static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool { lhs.daysSince2000 < rhs.daysSince2000 }

    public func adding(days: Int32) -> CalendarDate { CalendarDate(daysSince2000: daysSince2000 + days) }

    public func encode(into buffer: inout PostgresEncodingBuffer) { buffer.writeInteger(daysSince2000) }

    public static func decode(from value: PostgresValue) throws -> CalendarDate {
        let bytes = try value.nonNullBytes(for: CalendarDate.self)
        guard value.type == .date else { throw value.typeMismatch(CalendarDate.self) }
        var reader = ByteReader(bytes)
        guard bytes.count == 4, let days = reader.readInteger(Int32.self) else {
            throw value.error(decoding: CalendarDate.self, "unexpected length \(bytes.count)")
        }
        guard days != .max, days != .min else { throw value.error(decoding: CalendarDate.self, "infinite date") }
        return CalendarDate(daysSince2000: days)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = CalendarDate(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected a date as YYYY-MM-DD, got \(text)"))
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Howard Hinnant's civil-calendar algorithms: days relative to 1970-01-01.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
