import Foundation
import Hummingbird
import HTTPTypes
import Market

/// Reading a request's JSON body. Text that is not JSON is `malformed_json`; valid JSON that breaks a
/// field's rule (a wrong type, a number out of range, an impossible date, U+0000 in a string) is
/// `invalid_input` naming the field, as every other rule of the input is.
enum RequestBody {
    /// snake_case keys; times as RFC 3339 with a real calendar date (`2027-02-30` is refused, not rolled over).
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = RFC3339.date(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be an RFC 3339 time such as 2027-03-01T00:00:00Z, with a real date"))
            }
            return date
        }
        return decoder
    }()

    /// A POST's or PUT's body: as `decode`, where no body at all reads as `{}` (an action without
    /// parameters may be posted with none).
    static func decodePosted<T: Decodable>(_ type: T.Type, from body: Data) throws -> T {
        try decode(type, from: body.isEmpty ? Data("{}".utf8) : body)
    }

    static func decode<T: Decodable>(_ type: T.Type, from body: Data) throws -> T {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        } catch {
            throw Problem(.badRequest, code: "malformed_json", detail: "the body is not valid JSON")
        }
        if let field = nulField(parsed, path: "") { throw MarketInputError.nulCharacter(field) }
        do {
            return try decoder.decode(type, from: body)
        } catch let error as DecodingError {
            let (field, rule) = Problem.describe(error)
            throw MarketInputError(field: field.isEmpty ? "body" : field, rule: rule)
        }
    }

    /// The path of the first string (or key) holding U+0000, in the API's names (`regions[2]`).
    static func nulField(_ value: Any, path: String) -> String? {
        switch value {
        case let text as String:
            return text.utf8.contains(0) ? (path.isEmpty ? "body" : path) : nil
        case let object as [String: Any]:
            for (key, member) in object.sorted(by: { $0.key < $1.key }) {
                let field = path.isEmpty ? key : "\(path).\(key)"
                if key.utf8.contains(0) { return field }
                if let found = nulField(member, path: field) { return found }
            }
            return nil
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = nulField(element, path: "\(path)[\(index)]") { return found }
            }
            return nil
        default:
            return nil
        }
    }
}

/// A whole-number field of a request body. Foundation's decoder reports a number that does not fit 64
/// bits (`1.5`, `1e20`) without the key it was under; decoded through this, the error names the field.
@propertyWrapper
struct WholeNumber: Decodable, Sendable, Equatable {
    var wrappedValue: Int64

    init(from decoder: any Decoder) throws {
        guard let value = try? decoder.singleValueContainer().decode(Int64.self) else {
            throw DecodingError.typeMismatch(Int64.self, .init(codingPath: decoder.codingPath, debugDescription: "must be a whole number"))
        }
        wrappedValue = value
    }
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

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}
