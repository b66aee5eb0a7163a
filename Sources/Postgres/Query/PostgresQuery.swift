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
    /// UTF-8 offsets of each `$n` placeholder in `sql`, so fragments can be combined and renumbered.
    private var placeholders: [Int]

    public init(stringLiteral value: String) {
        sql = value
        bindings = PostgresBindings()
        placeholders = []
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        bindings = stringInterpolation.bindings
        placeholders = stringInterpolation.placeholders
    }

    /// SQL text used as is, with parameters already numbered in it. The name says what it is: never pass
    /// text that came from outside the program.
    public init(unsafeSQL sql: String, bindings: PostgresBindings = PostgresBindings()) {
        self.sql = sql
        self.bindings = bindings
        self.placeholders = []
    }

    /// The SQL text (parameters appear as `$n`; their values are never shown).
    public var description: String { sql }

    /// Appends another query's text and parameters, renumbering its placeholders.
    public mutating func append(_ other: PostgresQuery) {
        var interpolation = StringInterpolation(sql: sql, bindings: bindings, placeholders: placeholders)
        interpolation.appendInterpolation(other)
        self = PostgresQuery(stringInterpolation: interpolation)
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var sql: String
        var bindings: PostgresBindings
        var placeholders: [Int]

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            bindings = PostgresBindings()
            placeholders = []
        }

        init(sql: String, bindings: PostgresBindings, placeholders: [Int]) {
            self.sql = sql
            self.bindings = bindings
            self.placeholders = placeholders
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        /// Binds a value as the next parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            bindings.append(value)
            placeholders.append(sql.utf8.count)
            sql += "$\(bindings.count)"
        }

        /// Binds an optional value; nil is sent as NULL.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            bindings.append(value)
            placeholders.append(sql.utf8.count)
            sql += "$\(bindings.count)"
        }

        /// Pastes text into the SQL unchanged. Only for text the program itself controls.
        public mutating func appendInterpolation(unsafeRaw text: String) { sql += text }

        /// Inserts a double-quoted identifier (table, column, channel or database name).
        public mutating func appendInterpolation(identifier name: String) {
            if name.isEmpty || name.utf8.contains(0) {
                bindings.encodingError = bindings.encodingError
                    ?? PostgresError(kind: .encoding, message: "an identifier must be non-empty and free of NUL characters")
            }
            sql += quoteIdentifier(name)
        }

        /// Inserts a query fragment, renumbering its parameters after the ones already bound.
        public mutating func appendInterpolation(_ fragment: PostgresQuery) {
            let shift = bindings.count
            let utf8 = Array(fragment.sql.utf8)
            var cursor = 0
            for (index, offset) in fragment.placeholders.enumerated() {
                sql += String(decoding: utf8[cursor..<offset], as: UTF8.self)
                placeholders.append(sql.utf8.count)
                sql += "$\(shift + index + 1)"
                cursor = offset + 1 + String(index + 1).utf8.count
            }
            sql += String(decoding: utf8[cursor...], as: UTF8.self)
            for entry in fragment.bindings.entries {
                var moved = entry
                moved.offset = bindings.buffer.count
                if entry.length >= 0 {
                    let end = entry.offset + Int(entry.length) + (entry.format == .text ? 1 : 0)
                    bindings.buffer.bytes.append(contentsOf: fragment.bindings.buffer.bytes[entry.offset..<end])
                }
                bindings.entries.append(moved)
            }
            if bindings.encodingError == nil { bindings.encodingError = fragment.bindings.encodingError }
        }
    }
}

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
