// OpenAPIConformance.swift — check HTTP responses against an OpenAPI 3.1 document in tests.
//
// Self-contained (Foundation only). Supported JSON Schema 2020-12 keywords: local `$ref`
// (`#/...` JSON pointers), `type` (string or array), `enum`, `const`, `properties`, `required`,
// `additionalProperties`, `items`, `minItems`, `maxItems`, `minLength`, `maxLength`, `pattern`,
// `format` (`uuid`, `date-time`), `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
// `allOf`, `anyOf`, `oneOf`, `not`, and boolean schemas. Other keywords are ignored.

import Foundation

/// Errors thrown by ``OpenAPIDocument/init(json:)``.
enum OpenAPIDocumentError: Error, Equatable, CustomStringConvertible {
    /// The data is not valid JSON.
    case invalidJSON(String)
    /// The data is JSON, but not an OpenAPI 3.x document.
    case notOpenAPI(String)

    var description: String {
        switch self {
        case .invalidJSON(let reason): "not valid JSON: \(reason)"
        case .notOpenAPI(let reason): "not an OpenAPI 3.x document: \(reason)"
        }
    }
}

/// A parsed OpenAPI 3.1 document that can check concrete HTTP responses against its operations.
struct OpenAPIDocument: Sendable {
    private let root: JSON
    private static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// Parses an OpenAPI document from JSON.
    /// - Throws: ``OpenAPIDocumentError`` if `json` is not JSON, or not an object with an
    ///   `"openapi": "3.x"` version string (and, if present, an object-valued `paths`).
    init(json: Data) throws {
        let root: JSON
        do { root = try JSON(parsing: json) } catch {
            throw OpenAPIDocumentError.invalidJSON(error.localizedDescription)
        }
        guard case .object(let object) = root else {
            throw OpenAPIDocumentError.notOpenAPI("the top-level value is not a JSON object")
        }
        guard case .string(let version)? = object["openapi"], version.hasPrefix("3.") else {
            throw OpenAPIDocumentError.notOpenAPI("missing an \"openapi\": \"3.x\" version string")
        }
        if let paths = object["paths"], paths.objectValue == nil {
            throw OpenAPIDocumentError.notOpenAPI("\"paths\" is not an object")
        }
        self.root = root
    }

    /// Every operation the document declares as (uppercased method, path template),
    /// e.g. `("GET", "/v1/demands/{id}")`, sorted by path, then in HTTP method order.
    var operations: [(method: String, path: String)] {
        paths.keys.sorted().flatMap { path in
            Self.methods.filter { operation($0, at: path) != nil }.map { (method: $0.uppercased(), path: path) }
        }
    }

    /// The path template of the operation a concrete request matches, e.g.
    /// `("GET", "/v1/demands/3f2a…")` → `"/v1/demands/{id}"`; `nil` if no operation matches.
    ///
    /// Only templates declaring `method` are considered (as an HTTP router would). A `{param}`
    /// matches one non-empty segment; `{name}.csv`-style segments are supported. When several
    /// templates match, literal segments win over parameters, judged from left to right.
    /// A query string or fragment in `path` is ignored.
    func template(method: String, path: String) -> String? {
        let segments = Self.stripQuery(path).split(separator: "/", omittingEmptySubsequences: false)
        var best: (template: String, score: [Int])?
        for template in paths.keys.sorted() where operation(method, at: template) != nil {
            guard let score = Self.match(template: template, segments: segments) else { continue }
            if best.map({ score.lexicographicallyPrecedes($0.score) }) ?? true { best = (template, score) }
        }
        return best?.template
    }

    /// Problems with a response to `method path`; an empty array means it conforms.
    ///
    /// The status is looked up as the exact code (`"201"`), then its range (`"4XX"`), then
    /// `"default"`. If the response declares `content`, `contentType` (parameters such as
    /// `charset` are ignored) must match a declared media type, and for media types ending in
    /// `json` the body must be JSON conforming to that media type's `schema`. A response without
    /// `content` must have an empty body. Each violation reads like
    /// `GET /v1/demands/{id} 200: $.items[0].state: "opne" is not one of [draft, open]`.
    func violations(method: String, path: String, status: Int, contentType: String?, body: Data) -> [String] {
        let method = method.uppercased()
        guard let template = template(method: method, path: path), let operation = operation(method, at: template) else {
            return ["\(method) \(Self.stripQuery(path)): no documented operation matches this method and path"]
        }
        let label = "\(method) \(template) \(status)"
        let responses = dereferenced(operation["responses"])?.objectValue ?? [:]
        guard let key = Self.responseKey(for: status, in: responses), let response = dereferenced(responses[key]) else {
            return ["\(label): status \(status) is not documented (documented: \(responses.keys.sorted().joined(separator: ", ")))"]
        }

        let content = response["content"]?.objectValue ?? [:]
        if content.isEmpty {
            return body.isEmpty ? [] : ["\(label): the response declares no content, but the body has \(body.count) bytes"]
        }
        let declared = content.keys.sorted().joined(separator: ", ")
        guard let contentType else { return ["\(label): missing Content-Type; expected one of [\(declared)]"] }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        guard let mediaKey = Self.declaredKey(for: mediaType, in: content.keys) else {
            return ["\(label): Content-Type \"\(mediaType)\" is not one of [\(declared)]"]
        }
        guard mediaKey.lowercased().hasSuffix("json") else { return [] }

        let value: JSON
        do { value = try JSON(parsing: body) } catch { return ["\(label): the body is not valid JSON"] }
        guard let schema = content[mediaKey]?["schema"] else { return [] }
        return SchemaValidator(root: root).validate(value, against: schema, at: "$").map { "\(label): \($0)" }
    }

    // MARK: Helpers

    private var paths: [String: JSON] { root["paths"]?.objectValue ?? [:] }

    private func operation(_ method: String, at template: String) -> JSON? {
        let method = method.lowercased()
        guard Self.methods.contains(method) else { return nil }
        return dereferenced(paths[template])?[method]
    }

    /// Follows `$ref`s on non-schema objects (path items, responses).
    private func dereferenced(_ value: JSON?) -> JSON? {
        var current = value
        for _ in 0..<32 {
            guard let reference = current?["$ref"]?.stringValue else { return current }
            current = root.resolve(pointer: reference)
        }
        return nil
    }

    private static func responseKey(for status: Int, in responses: [String: JSON]) -> String? {
        if responses[String(status)] != nil { return String(status) }
        if let range = responses.keys.first(where: { $0.uppercased() == "\(status / 100)XX" }) { return range }
        return responses["default"] != nil ? "default" : nil
    }

    private static func stripQuery(_ path: String) -> Substring {
        path.prefix { $0 != "?" && $0 != "#" }
    }

    /// Per-segment specificity (0 literal, 1 mixed, 2 whole parameter), or nil if no match.
    private static func match(template: String, segments: [Substring]) -> [Int]? {
        let parts = template.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == segments.count else { return nil }
        var score: [Int] = []
        for (part, segment) in zip(parts, segments) {
            if !part.contains("{") {
                guard part == segment || segment.removingPercentEncoding == String(part) else { return nil }
                score.append(0)
            } else if part.first == "{", part.last == "}", part.filter({ $0 == "{" }).count == 1 {
                guard !segment.isEmpty else { return nil }
                score.append(2)
            } else {
                guard matchesMixed(part, segment) else { return nil }
                score.append(1)
            }
        }
        return score
    }

    /// Matches a segment such as `{name}.{ext}` by turning each `{…}` into `[^/]+`.
    private static func matchesMixed(_ part: Substring, _ segment: Substring) -> Bool {
        var pattern = "^"
        var rest = part
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            pattern += NSRegularExpression.escapedPattern(for: String(rest[..<open])) + "[^/]+"
            rest = rest[rest.index(after: close)...]
        }
        pattern += NSRegularExpression.escapedPattern(for: String(rest)) + "$"
        let segment = String(segment)
        let regex = try? NSRegularExpression(pattern: pattern)
        return regex?.firstMatch(in: segment, range: NSRange(segment.startIndex..., in: segment)) != nil
    }

    /// The declared media type key matching `mediaType`: exact, then `type/*`, then `*/*`.
    private static func declaredKey(for mediaType: String, in keys: Dictionary<String, JSON>.Keys) -> String? {
        let wildcard = (mediaType.split(separator: "/").first.map(String.init) ?? "") + "/*"
        for candidate in [mediaType, wildcard, "*/*"] {
            if let key = keys.first(where: { $0.lowercased() == candidate }) { return key }
        }
        return nil
    }
}

// MARK: - Schema validation

/// Validates JSON values against the JSON Schema 2020-12 subset listed in the file header.
private struct SchemaValidator {
    let root: JSON

    /// Violations of `schema` by `value`, each prefixed with the JSON path, e.g. `$.items[0].id: …`.
    /// `refDepth` counts `$ref` hops without descending into the value, to stop reference cycles.
    func validate(_ value: JSON, against schema: JSON, at path: String, refDepth: Int = 0) -> [String] {
        let keywords: [String: JSON]
        switch schema {
        case .bool(true): return []
        case .bool(false): return ["\(path): no value is allowed here"]
        case .object(let object): keywords = object
        default: return ["\(path): invalid schema (expected an object or a boolean)"]
        }
        var errors: [String] = []
        func fail(_ message: String) { errors.append("\(path): \(message)") }
        func number(_ name: String) -> Double? { keywords[name]?.numberValue }

        if let reference = keywords["$ref"]?.stringValue {
            if refDepth > 64 {
                fail("$ref \"\(reference)\" nests too deeply (reference cycle?)")
            } else if let target = root.resolve(pointer: reference) {
                errors += validate(value, against: target, at: path, refDepth: refDepth + 1)
            } else {
                fail("cannot resolve $ref \"\(reference)\" (only local \"#/…\" pointers are supported)")
            }
        }
        if let type = keywords["type"] {
            let allowed = type.stringValue.map { [$0] } ?? type.arrayValue?.compactMap(\.stringValue) ?? []
            if !allowed.contains(where: value.hasType) {
                fail("expected \(allowed.joined(separator: " or ")), got \(value.typeName)")
            }
        }
        if let options = keywords["enum"]?.arrayValue, !options.contains(value) {
            fail("\(value.summary) is not one of [\(options.map(\.plain).joined(separator: ", "))]")
        }
        if let constant = keywords["const"], constant != value {
            fail("\(value.summary) is not \(constant.summary)")
        }

        switch value {
        case .string(let string):
            let length = string.unicodeScalars.count  // JSON Schema counts code points
            if let min = number("minLength"), Double(length) < min { fail("length \(length) is less than minLength \(JSON.format(min))") }
            if let max = number("maxLength"), Double(length) > max { fail("length \(length) is greater than maxLength \(JSON.format(max))") }
            if let pattern = keywords["pattern"]?.stringValue {
                if let regex = try? NSRegularExpression(pattern: pattern) {
                    if regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) == nil {
                        fail("\(value.summary) does not match pattern \(pattern)")
                    }
                } else {
                    fail("invalid pattern \(pattern)")
                }
            }
            if let format = keywords["format"]?.stringValue, !Formats.isValid(string, format: format) {
                fail("\(value.summary) is not a valid \(format)")
            }
        case .number(let n):
            if let min = number("minimum"), n < min { fail("\(value.summary) is less than minimum \(JSON.format(min))") }
            if let max = number("maximum"), n > max { fail("\(value.summary) is greater than maximum \(JSON.format(max))") }
            if let min = number("exclusiveMinimum"), n <= min { fail("\(value.summary) is not greater than exclusiveMinimum \(JSON.format(min))") }
            if let max = number("exclusiveMaximum"), n >= max { fail("\(value.summary) is not less than exclusiveMaximum \(JSON.format(max))") }
        case .object(let object):
            for name in keywords["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
                fail("missing required property \"\(name)\"")
            }
            let properties = keywords["properties"]?.objectValue ?? [:]
            for (name, child) in object.sorted(by: { $0.key < $1.key }) {
                let childPath = Self.path(path, property: name)
                if let propertySchema = properties[name] {
                    errors += validate(child, against: propertySchema, at: childPath)
                } else if keywords["additionalProperties"] == .bool(false) {
                    errors.append("\(childPath): additional property is not allowed")
                } else if let additional = keywords["additionalProperties"] {
                    errors += validate(child, against: additional, at: childPath)
                }
            }
        case .array(let items):
            if let min = number("minItems"), Double(items.count) < min { fail("\(items.count) items is fewer than minItems \(JSON.format(min))") }
            if let max = number("maxItems"), Double(items.count) > max { fail("\(items.count) items is more than maxItems \(JSON.format(max))") }
            if let itemSchema = keywords["items"] {
                for (index, item) in items.enumerated() {
                    errors += validate(item, against: itemSchema, at: "\(path)[\(index)]")
                }
            }
        case .null, .bool:
            break
        }

        for subschema in keywords["allOf"]?.arrayValue ?? [] {
            errors += validate(value, against: subschema, at: path, refDepth: refDepth)
        }
        if let options = keywords["anyOf"]?.arrayValue {
            let results = options.map { validate(value, against: $0, at: path, refDepth: refDepth) }
            if !results.contains(where: \.isEmpty) { fail("matches none of the anyOf alternatives" + Self.closest(results)) }
        }
        if let options = keywords["oneOf"]?.arrayValue {
            let results = options.map { validate(value, against: $0, at: path, refDepth: refDepth) }
            let matching = results.indices.filter { results[$0].isEmpty }
            if matching.isEmpty {
                fail("matches none of the oneOf alternatives" + Self.closest(results))
            } else if matching.count > 1 {
                fail("matches \(matching.count) oneOf alternatives (\(matching.map { "#\($0)" }.joined(separator: ", "))); expected exactly one")
            }
        }
        if let negated = keywords["not"], validate(value, against: negated, at: path, refDepth: refDepth).isEmpty {
            fail("must not match the \"not\" schema")
        }
        return errors
    }

    /// Describes the alternative with the fewest violations, to explain an anyOf/oneOf failure.
    private static func closest(_ results: [[String]]) -> String {
        guard let best = results.indices.min(by: { results[$0].count < results[$1].count }) else { return "" }
        return "; closest #\(best): \(results[best].joined(separator: "; "))"
    }

    private static func path(_ base: String, property name: String) -> String {
        let isIdentifier = name.first.map { $0.isLetter || $0 == "_" } == true
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        return isIdentifier ? "\(base).\(name)" : "\(base)[\"\(name.replacingOccurrences(of: "\"", with: "\\\""))\"]"
    }
}

/// The `format` values that are asserted; all others are accepted (annotation only).
private enum Formats {
    static func isValid(_ string: String, format: String) -> Bool {
        switch format {
        case "uuid": string.utf8.count == 36 && UUID(uuidString: string) != nil
        case "date-time": isDateTime(string)
        default: true
        }
    }

    /// RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, with calendar range checks.
    static func isDateTime(_ string: String) -> Bool {
        let c = Array(string.utf8)
        func char(_ i: Int, _ options: String) -> Bool { i < c.count && options.utf8.contains(c[i]) }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= c.count, range.allSatisfy({ (48...57).contains(c[$0]) }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(c[$1] - 48) }
        }
        guard let year = number(0..<4), char(4, "-"), let month = number(5..<7), char(7, "-"),
              let day = number(8..<10), char(10, "Tt"), let hour = number(11..<13), char(13, ":"),
              let minute = number(14..<16), char(16, ":"), let second = number(17..<19) else { return false }
        var i = 19
        if char(i, ".") {
            i += 1
            let start = i
            while char(i, "0123456789") { i += 1 }
            guard i > start else { return false }
        }
        if char(i, "Zz") {
            i += 1
        } else if char(i, "+-"), let offsetHour = number(i + 1..<i + 3), char(i + 3, ":"),
                  let offsetMinute = number(i + 4..<i + 6), offsetHour < 24, offsetMinute < 60 {
            i += 6
        } else {
            return false
        }
        let isLeap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let daysInMonth = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return i == c.count && (1...12).contains(month) && (1...daysInMonth[month - 1]).contains(day)
            && hour < 24 && minute < 60 && second <= 60
    }
}

// MARK: - JSON value

/// A JSON value. Converting `JSONSerialization` output to this value type up front makes the
/// document `Sendable` and tells booleans apart from numbers reliably on Linux and Darwin.
enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// Parses `data` with `JSONSerialization` (top-level fragments allowed).
    init(parsing data: Data) throws {
        try self.init(foundation: JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    private init(foundation value: Any) throws {
        switch value {
        case is NSNull:
            self = .null
        case let string as String:
            self = .string(string)
        case let number as NSNumber:
            // `number as? Bool` also succeeds for 0 and 1, so inspect the boxed C type instead:
            // JSON true/false are boxed as `char` ("c"); JSON numbers as "i", "q", "Q" or "d".
            let boxed = String(cString: number.objCType)
            let isBool = (boxed == "c" || boxed == "B") && (number.doubleValue == 0 || number.doubleValue == 1)
            self = isBool ? .bool(number.boolValue) : .number(number.doubleValue)
        case let array as [Any]:
            self = .array(try array.map(JSON.init(foundation:)))
        case let object as [String: Any]:
            self = .object(try object.mapValues(JSON.init(foundation:)))
        default:
            throw OpenAPIDocumentError.invalidJSON("unexpected value of type \(type(of: value))")
        }
    }

    subscript(key: String) -> JSON? { objectValue?[key] }

    var objectValue: [String: JSON]? { if case .object(let value) = self { value } else { nil } }
    var arrayValue: [JSON]? { if case .array(let value) = self { value } else { nil } }
    var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    var numberValue: Double? { if case .number(let value) = self { value } else { nil } }

    /// Whether the value is an instance of the JSON Schema `type` (1.0 counts as an integer).
    func hasType(_ type: String) -> Bool {
        switch (type, self) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string),
             ("array", .array), ("object", .object): true
        case ("integer", .number(let n)): n.rounded() == n
        default: false
        }
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n.rounded() == n ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Short rendering for messages: strings quoted, containers abbreviated.
    var summary: String {
        switch self {
        case .string(let s): "\"\(s.count > 60 ? String(s.prefix(57)) + "..." : s)\""
        default: plain
        }
    }

    /// Like ``summary`` but with strings unquoted, for lists such as enum values.
    var plain: String {
        switch self {
        case .null: "null"
        case .bool(let b): String(b)
        case .number(let n): JSON.format(n)
        case .string(let s): s
        case .array: "[…]"
        case .object: "{…}"
        }
    }

    static func format(_ n: Double) -> String {
        n.rounded() == n && abs(n) < 1e15 ? String(Int64(n)) : String(n)
    }

    /// Resolves a local reference such as `#/components/schemas/Name` (RFC 6901, ~0/~1 escapes).
    func resolve(pointer reference: String) -> JSON? {
        guard reference.hasPrefix("#"), let fragment = String(reference.dropFirst()).removingPercentEncoding else { return nil }
        guard !fragment.isEmpty else { return self }
        guard fragment.hasPrefix("/") else { return nil }
        var current = self
        for token in fragment.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if case .object(let object) = current, let next = object[key] {
                current = next
            } else if case .array(let array) = current, let index = Int(key), array.indices.contains(index) {
                current = array[index]
            } else {
                return nil
            }
        }
        return current
    }
}
