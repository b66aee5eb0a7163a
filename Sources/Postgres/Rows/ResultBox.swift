import CLibPQ

/// Owns one libpq result (PGresult) and frees it when the last row referring to it is gone.
/// Immutable after creation, so rows can be decoded on any thread. Column metadata is read from libpq
/// on demand, so a result costs one allocation besides libpq's own.
final class ResultBox: @unchecked Sendable {
    let handle: OpaquePointer
    let rowCount: Int
    let columnCount: Int

    init(taking handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columnCount = Int(PQnfields(handle))
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

    func columnName(_ column: Int) -> String {
        PQfname(handle, Int32(column)).map { String(cString: $0) } ?? "?column?"
    }

    var columnNames: [String] { (0..<columnCount).map(columnName) }

    func columnType(_ column: Int) -> PostgresType { PostgresType(rawValue: PQftype(handle, Int32(column))) }

    func columnFormat(_ column: Int) -> PostgresFormat { PQfformat(handle, Int32(column)) == 1 ? .binary : .text }

    /// Decodes one cell. The value's bytes point into the result, which `self` keeps alive.
    func decode<T: PostgresDecodable>(_ type: T.Type, row: Int, column: Int) throws -> T {
        let value = PostgresValue(result: self, column: column, type: columnType(column), bytes: bytes(row: row, column: column))
        if columnFormat(column) == .text && value.bytes != nil && !value.type.isTextual {
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

    /// Column index by exact (case-sensitive) name; the first match wins, like SQL.
    func columnIndex(named name: String) -> Int? {
        name.withCString { wanted in
            (0..<columnCount).first { column in
                guard let candidate = PQfname(handle, Int32(column)) else { return false }
                return strcmp(candidate, wanted) == 0
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
