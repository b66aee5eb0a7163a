import Foundation
import Hummingbird
import HTTPTypes
import Market
import OpenAPIRuntime

/// What the generated server's decoding cannot say by itself about a request's JSON body. Text that is
/// not JSON is `malformed_json`; valid JSON that breaks a field's rule (a wrong type, a number out of
/// range, an impossible date, U+0000 in a string) is `invalid_input` naming the field, as every other rule
/// of the input is. `RequestTransaction` checks the body before the handler decodes it, and explains
/// decoding errors that lost their field.
enum RequestBody {
    /// The body parsed, or `malformed_json`; U+0000 anywhere is refused naming the field (no column can hold it).
    static func check(_ body: Data) throws -> Any {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        } catch {
            throw Problem(.badRequest, code: "malformed_json", detail: "the body is not valid JSON")
        }
        if let field = nulField(parsed) { throw MarketInputError.nulCharacter(field) }
        return parsed
    }

    /// The field a decoding error of `body` was about, when the decoder did not say: Foundation reports a
    /// number that does not fit 64 bits (`1.5`, `1e20`) as invalid JSON without its key, and a time the
    /// contract's transcoder refused comes without its path. Nil when `error` is neither.
    static func explain(_ error: any Error, body: Any) -> MarketInputError? {
        if let time = error as? InvalidTime {
            return MarketInputError(field: field(in: body) { ($0 as? String) == time.text } ?? "body", rule: InvalidTime.rule)
        }
        if case .dataCorrupted(let context) = error as? DecodingError, context.codingPath.isEmpty,
           let field = field(in: body, where: { value in
               guard let number = value as? NSNumber, !(value is Bool) else { return false }
               return Int64(exactly: number.doubleValue) == nil || number.doubleValue.rounded() != number.doubleValue
           }) {
            return MarketInputError(field: field, rule: "must be a whole number")
        }
        return nil
    }

    /// The path of the first value (depth first, keys in order) that `matches`, or of the first key that
    /// `matchesKey`, in the API's names (`regions[2]`).
    static func field(in value: Any, path: String = "", key matchesKey: (String) -> Bool = { _ in false }, where matches: (Any) -> Bool) -> String? {
        switch value {
        case let object as [String: Any]:
            for (key, member) in object.sorted(by: { $0.key < $1.key }) {
                let field = path.isEmpty ? key : "\(path).\(key)"
                if matchesKey(key) { return field }
                if let found = self.field(in: member, path: field, key: matchesKey, where: matches) { return found }
            }
            return nil
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = self.field(in: element, path: "\(path)[\(index)]", key: matchesKey, where: matches) { return found }
            }
            return nil
        default:
            return matches(value) ? (path.isEmpty ? "body" : path) : nil
        }
    }

    /// The path of the first string (or key) holding U+0000.
    static func nulField(_ value: Any) -> String? {
        field(in: value, key: { $0.utf8.contains(0) }, where: { ($0 as? String)?.utf8.contains(0) == true })
    }
}

/// Times as the contract's `date-time`: RFC 3339 with a real calendar date (`2027-02-30` is refused, not
/// rolled over); written without fractions of a second, in UTC.
struct StrictDates: DateTranscoder {
    func encode(_ date: Date) throws -> String {
        date.formatted(.iso8601)
    }

    func decode(_ text: String) throws -> Date {
        guard let date = RFC3339.date(text) else { throw InvalidTime(text: text) }
        return date
    }
}

/// A time `StrictDates` refused; `RequestBody.explain` finds its field.
struct InvalidTime: Error {
    static let rule = "must be an RFC 3339 time such as 2027-03-01T00:00:00Z, with a real date"
    var text: String
}

/// RFC 3339 times (`2027-03-01T08:00:00Z`, `2027-03-01T16:00:00.5+08:00`), strictly: every field within
/// its range and the day within its month.
enum RFC3339 {
    static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count, range.allSatisfy({ (48...57).contains(bytes[$0]) }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(bytes[$1] - 48) }
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...daysIn(month, of: year)).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            let start = index + 1
            index = start
            while index < bytes.count, (48...57).contains(bytes[index]) { index += 1 }
            guard index > start, index - start <= 9, let digits = number(start..<index) else { return nil }
            fraction = Double(digits) / pow(10, Double(index - start))
        }
        guard index < bytes.count else { return nil }
        var offset = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == bytes.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                  let hours = number((index + 1)..<(index + 3)), let minutes = number((index + 4)..<(index + 6)), hours < 24, minutes < 60
            else { return nil }
            offset = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    static func daysIn(_ month: Int, of year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// Refuses U+0000 in a query parameter of `/v1` (`?q=a%00b`), naming the parameter: no column can hold it.
struct QueryTextCheck: RouterMiddleware {
    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        for (name, value) in request.uri.queryParameters where value.utf8.contains(0) || name.utf8.contains(0) {
            throw MarketInputError.nulCharacter(String(name))
        }
        return try await next(request, context)
    }
}

/// The generated server writes header values URI-encoded, so a `Location` of `/v1/orders/…` went out as
/// `%2Fv1%2Forders%2F…`: written here as the path it is (every path pdx makes is plain ASCII).
struct PlainLocation: RouterMiddleware {
    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if let location = response.headers[.location], location.hasPrefix("%2F"), let plain = location.removingPercentEncoding {
            response.headers[.location] = plain
        }
        return response
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}
