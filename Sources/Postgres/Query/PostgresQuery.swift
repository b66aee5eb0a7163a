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

    /// Appends another query's text and parameters, renumbering its placeholders (in place: building a
    /// query from many fragments costs time in proportion to its size).
    public mutating func append(_ other: PostgresQuery) {
        Self.append(other, to: &sql, &bindings)
    }

    /// Appends `fragment` to a query's text and bindings, renumbering its placeholders after theirs.
    static func append(_ fragment: PostgresQuery, to sql: inout String, _ bindings: inout PostgresBindings) {
        let shift = bindings.count
        var cursor = fragment.sql.utf8.startIndex
        for (index, entry) in fragment.bindings.entries.enumerated() {
            var moved = entry
            moved.offset = bindings.buffer.count
            if entry.placeholderOffset >= 0 {
                let placeholder = fragment.sql.utf8.index(fragment.sql.utf8.startIndex, offsetBy: entry.placeholderOffset)
                sql += fragment.sql[cursor..<placeholder]
                moved.placeholderOffset = sql.utf8.count
                sql += "$\(shift + index + 1)"
                cursor = fragment.sql.utf8.index(placeholder, offsetBy: 1 + String(index + 1).utf8.count)
            } else if bindings.encodingFailure == nil {
                bindings.encodingFailure = "a query made with unsafeSQL and parameters cannot be combined with others"
            }
            if entry.length >= 0 {
                let end = entry.offset + Int(entry.length) + (entry.format == .text ? 1 : 0)
                bindings.buffer.bytes.append(contentsOf: fragment.bindings.buffer.bytes[entry.offset..<end])
            }
            bindings.entries.append(moved)
        }
        sql += fragment.sql[cursor...]
        if bindings.encodingFailure == nil { bindings.encodingFailure = fragment.bindings.encodingFailure }
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var sql: String
        var bindings: PostgresBindings

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            bindings = PostgresBindings()
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
            PostgresQuery.append(fragment, to: &sql, &bindings)
        }
    }
}

/// "$0" ... "$31", made once.
private let placeholderTexts = (0..<32).map { "$\($0)" }

/// Double-quotes an identifier, doubling embedded quotes.
public func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacing("\"", with: "\"\"") + "\""
}

/// Single-quotes a literal for the rare statements that take no parameters (SET, utility commands),
/// doubling embedded quotes. Values from outside the program belong in bound parameters instead.
func quoteLiteral(_ value: String) -> String {
    "'" + value.replacing("'", with: "''") + "'"
}
