import CLibPQ

/// Owns one libpq result (PGresult) and frees it when the last row referring to it is gone.
/// Immutable after creation, so rows can be decoded on any thread.
final class ResultBox: @unchecked Sendable {
    let handle: OpaquePointer
    let rowCount: Int
    let columnCount: Int
    let columnNames: [String]
    let columnTypes: [PostgresType]
    let columnFormats: [PostgresFormat]

    init(taking handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columnCount = Int(PQnfields(handle))
        var names: [String] = []
        var types: [PostgresType] = []
        var formats: [PostgresFormat] = []
        names.reserveCapacity(columnCount)
        types.reserveCapacity(columnCount)
        formats.reserveCapacity(columnCount)
        for column in 0..<Int32(columnCount) {
            names.append(PQfname(handle, column).map { String(cString: $0) } ?? "?column?")
            types.append(PostgresType(rawValue: PQftype(handle, column)))
            formats.append(PQfformat(handle, column) == 1 ? .binary : .text)
        }
        columnNames = names
        columnTypes = types
        columnFormats = formats
    }

    deinit { PQclear(handle) }

    var affectedRows: Int {
        guard let text = PQcmdTuples(handle) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    var commandTag: String {
        guard let text = PQcmdStatus(handle) else { return "" }
        return String(cString: text)
    }

    /// Decodes one cell. The value's bytes point into the result, which `self` keeps alive.
    func decode<T: PostgresDecodable>(_ type: T.Type, row: Int, column: Int) throws -> T {
        let bytes = self.bytes(row: row, column: column)
        let value = PostgresValue(
            columnName: columnNames[column], type: columnTypes[column], format: columnFormats[column], bytes: bytes)
        if value.format == .text && bytes != nil && !value.type.isTextual {
            throw value.error(decoding: T.self, "the value arrived in text format, which this client does not decode")
        }
        return try withExtendedLifetime(self) { try T.decode(from: value) }
    }

    /// A cell's bytes (nil for NULL), valid while `self` lives.
    func bytes(row: Int, column: Int) -> UnsafeRawBufferPointer? {
        let r = Int32(row), c = Int32(column)
        if PQgetisnull(handle, r, c) == 1 { return nil }
        return UnsafeRawBufferPointer(start: PQgetvalue(handle, r, c), count: Int(PQgetlength(handle, r, c)))
    }

    func isNull(row: Int, column: Int) -> Bool { PQgetisnull(handle, Int32(row), Int32(column)) == 1 }

    /// Column index by name; the first match wins, like SQL.
    func columnIndex(named name: String) -> Int? { columnNames.firstIndex(of: name) }
}
