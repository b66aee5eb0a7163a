/// The rows a statement returned (or none, for a command), with its affected-row count.
public struct PostgresRows: Sendable, RandomAccessCollection {
    let result: ResultBox

    init(result: ResultBox) { self.result = result }

    public var startIndex: Int { 0 }
    public var endIndex: Int { result.rowCount }
    public subscript(position: Int) -> PostgresRow {
        precondition(indices.contains(position), "row index out of range")
        return PostgresRow(result: result, index: position)
    }

    /// Rows inserted, updated, deleted, selected, copied or moved, from the command tag.
    public var affectedRows: Int { result.affectedRows }
    /// The command tag, such as `INSERT 0 3`.
    public var commandTag: String { result.commandTag }
    /// Column names and types, in order.
    public var columns: [(name: String, type: PostgresType)] {
        (0..<result.columnCount).map { (result.columnName($0), result.columnType($0)) }
    }

    /// Decodes every row into a tuple, one type per column.
    public func decode<each T: PostgresDecodable>(_ types: repeat (each T).Type) throws -> [(repeat each T)] {
        try map { try $0.decode(repeat (each T).self) }
    }

    /// Decodes every row's single column.
    public func decode<T: PostgresDecodable>(_ type: T.Type) throws -> [T] {
        try map { try $0.decode(T.self) }
    }

    /// Decodes every row into a `Decodable` value, matching properties to columns by name
    /// (`createdAt` matches a `createdAt` or `created_at` column).
    public func decode<T: Decodable>(as type: T.Type) throws -> [T] {
        try map { try $0.decode(as: T.self) }
    }

    /// The first row's single column, or nil when there is no row.
    public func scalar<T: PostgresDecodable>(_ type: T.Type) throws -> T? {
        try first?.decode(T.self)
    }
}

/// One row of a result.
public struct PostgresRow: Sendable {
    let result: ResultBox
    let index: Int

    /// Decodes the row into a tuple, one type per column; the number of types must equal the number of columns.
    public func decode<each T: PostgresDecodable>(_ types: repeat (each T).Type) throws -> (repeat each T) {
        var count = 0
        for _ in repeat each types { count += 1 }
        guard count == result.columnCount else {
            throw PostgresDecodingError(
                column: "*", columnType: .unspecified, swiftType: "\(count) values",
                reason: "the row has \(result.columnCount) columns but \(count) types were given")
        }
        var column = 0
        func next<V: PostgresDecodable>(_ type: V.Type) throws -> V {
            defer { column += 1 }
            return try result.decode(V.self, row: index, column: column)
        }
        return (repeat try next((each T).self))
    }

    /// Decodes consecutive columns from `start` into a tuple, one type per column (for rows wider than
    /// one tuple reads comfortably, or with a known prefix).
    public func decode<each T: PostgresDecodable>(_ types: repeat (each T).Type, at start: Int) throws -> (repeat each T) {
        var count = 0
        for _ in repeat each types { count += 1 }
        guard start >= 0, start + count <= result.columnCount else {
            throw PostgresDecodingError(
                column: "*", columnType: .unspecified, swiftType: "\(count) values",
                reason: "the row has \(result.columnCount) columns; columns \(start)..<\(start + count) were asked for")
        }
        var column = start
        func next<V: PostgresDecodable>(_ type: V.Type) throws -> V {
            defer { column += 1 }
            return try result.decode(V.self, row: index, column: column)
        }
        return (repeat try next((each T).self))
    }

    /// Decodes the row's single column.
    public func decode<T: PostgresDecodable>(_ type: T.Type) throws -> T {
        guard result.columnCount == 1 else {
            throw PostgresDecodingError(
                column: "*", columnType: .unspecified, swiftType: "\(T.self)",
                reason: "the row has \(result.columnCount) columns but 1 type was given")
        }
        return try result.decode(T.self, row: index, column: 0)
    }

    /// Decodes one column by name.
    public func decode<T: PostgresDecodable>(_ type: T.Type, column name: String) throws -> T {
        guard let column = result.columnIndex(named: name) else {
            throw PostgresDecodingError(column: name, columnType: .unspecified, swiftType: "\(T.self)",
                                        reason: "no such column in the result")
        }
        return try result.decode(T.self, row: index, column: column)
    }

    /// Decodes the row into a `Decodable` value by column name (see `PostgresRows.decode(as:)`).
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        try T(from: RowDecoder(result: result, row: index))
    }

    public var columnCount: Int { result.columnCount }
}
