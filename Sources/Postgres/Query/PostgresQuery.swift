/// A SQL statement whose interpolated values become bound parameters.
///
/// ```swift
/// let rows = try await connection.query("SELECT name FROM parties WHERE id = \(id)")
/// ```
/// sends `SELECT name FROM parties WHERE id = $1` with `id` bound: values never become SQL text.
/// Text that must be pasted into the SQL needs a visible opt-in: `\(unsafeRaw: text)`, or
/// `\(identifier: name)` for a quoted identifier.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var sql: String
    public private(set) var bindings: PostgresBindings

    public init(stringLiteral value: String) {
        sql = value
        bindings = PostgresBindings()
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        bindings = stringInterpolation.bindings
    }

    /// SQL text used as is, with parameters already numbered in it. The name says what it is: never pass
    /// text that came from outside the program.
    public init(unsafeSQL sql: String, bindings: PostgresBindings = PostgresBindings()) {
        self.sql = sql
        self.bindings = bindings
    }

    /// The SQL text (parameters appear as `$n`; their values are never shown).
    public var description: String { sql }

    /// Appends another query's text and parameters, renumbering its placeholders.
    public mutating func append(_ other: PostgresQuery) {
        var interpolation = StringInterpolation(sql: sql, bindings: bindings)
        interpolation.appendInterpolation(other)
        self = PostgresQuery(stringInterpolation: interpolation)
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var sql: String
        var bindings: PostgresBindings

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            bindings = PostgresBindings()
        }

        init(sql: String, bindings: PostgresBindings) {
            self.sql = sql
            self.bindings = bindings
        }

        /// Writes `$n` for the parameter just bound and remembers where, for renumbering.
        private mutating func appendPlaceholder() {
            bindings.entries[bindings.entries.count - 1].placeholderOffset = sql.utf8.count
            let number = bindings.count
            sql += number < placeholderTexts.count ? placeholderTexts[number] : "$\(number)"
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        /// Binds a value as the next parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            bindings.append(value)
            appendPlaceholder()
        }

        /// Binds an optional value; nil is sent as NULL.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            bindings.append(value)
            appendPlaceholder()
        }

        /// Pastes text into the SQL unchanged. Only for text the program itself controls.
        public mutating func appendInterpolation(unsafeRaw text: String) { sql += text }

        /// Inserts a double-quoted identifier (table, column, channel or database name).
        public mutating func appendInterpolation(identifier name: String) {
            if name.isEmpty || name.utf8.contains(0) {
                bindings.encodingFailure = bindings.encodingFailure ?? "an identifier must be non-empty and free of NUL characters"
            }
            sql += quoteIdentifier(name)
        }

        /// Inserts a query fragment, renumbering its parameters after the ones already bound.
        public mutating func appendInterpolation(_ fragment: PostgresQuery) {
            let shift = bindings.count
            let utf8 = Array(fragment.sql.utf8)
            var cursor = 0
            for (index, entry) in fragment.bindings.entries.enumerated() {
                var moved = entry
                moved.offset = bindings.buffer.count
                if entry.placeholderOffset >= 0 {
                    sql += String(decoding: utf8[cursor..<entry.placeholderOffset], as: UTF8.self)
                    moved.placeholderOffset = sql.utf8.count
                    sql += "$\(shift + index + 1)"
                    cursor = entry.placeholderOffset + 1 + String(index + 1).utf8.count
                } else if bindings.encodingFailure == nil {
                    bindings.encodingFailure = "a query made with unsafeSQL and parameters cannot be combined with others"
                }
                if entry.length >= 0 {
                    let end = entry.offset + Int(entry.length) + (entry.format == .text ? 1 : 0)
                    bindings.buffer.bytes.append(contentsOf: fragment.bindings.buffer.bytes[entry.offset..<end])
                }
                bindings.entries.append(moved)
            }
            sql += String(decoding: utf8[cursor...], as: UTF8.self)
            if bindings.encodingFailure == nil { bindings.encodingFailure = fragment.bindings.encodingFailure }
        }
    }
}

/// "$0" ... "$31", made once.
private let placeholderTexts = (0..<32).map { "$\($0)" }

/// Double-quotes an identifier, doubling embedded quotes.
public func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
