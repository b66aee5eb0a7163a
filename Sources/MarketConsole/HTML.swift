/// A piece of HTML. Built by string interpolation in which every interpolated `String` (or number, or
/// anything else that is not `HTML`) is escaped, so text from the database or a request can never become
/// markup: raw markup needs `HTML(unsafeRaw:)`, visible where it is used (the idea of `PostgresQuery`).
public struct HTML: Sendable, Equatable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var text: String

    /// Markup taken as it is: only for text that holds no outside input.
    public init(unsafeRaw text: String) { self.text = text }

    public init(stringLiteral value: String) { text = value }

    public init(stringInterpolation: StringInterpolation) { text = stringInterpolation.text }

    public var description: String { text }

    public static let empty = HTML(unsafeRaw: "")

    /// Pieces one after another.
    public init(_ pieces: [HTML], separator: HTML = .empty) {
        text = pieces.map(\.text).joined(separator: separator.text)
    }

    public static func + (a: HTML, b: HTML) -> HTML { HTML(unsafeRaw: a.text + b.text) }

    public static func += (a: inout HTML, b: HTML) { a.text += b.text }

    public struct StringInterpolation: StringInterpolationProtocol {
        var text = ""

        public init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity + 16 * interpolationCount) }

        public mutating func appendLiteral(_ literal: String) { text += literal }

        public mutating func appendInterpolation(_ html: HTML) { text += html.text }

        public mutating func appendInterpolation(_ pieces: [HTML]) { for piece in pieces { text += piece.text } }

        public mutating func appendInterpolation(_ value: String) { text += HTML.escape(value) }

        public mutating func appendInterpolation(_ value: String?) { text += HTML.escape(value ?? "") }

        public mutating func appendInterpolation<T: CustomStringConvertible>(_ value: T) { text += HTML.escape(value.description) }
    }

    /// Text made safe for element content and quoted attribute values.
    public static func escape(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return value }
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count + 16)
        for character in value.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}
