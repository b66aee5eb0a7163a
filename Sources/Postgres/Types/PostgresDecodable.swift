/// One value of a result row as it arrived from the server: its column, type, format and bytes.
///
/// The bytes belong to the result and are valid only during the `decode(from:)` call that receives them.
public struct PostgresValue {
    /// The result and column it came from (for error messages); read lazily, errors are rare.
    let result: ResultBox
    let column: Int
    public let type: PostgresType
    /// The value's bytes, or nil for SQL NULL.
    public let bytes: UnsafeRawBufferPointer?

    init(result: ResultBox, column: Int, type: PostgresType, bytes: UnsafeRawBufferPointer?) {
        self.result = result
        self.column = column
        self.type = type
        self.bytes = bytes
    }

    /// The column's name.
    public var columnName: String { result.columnName(column) }

    /// The bytes of a non-NULL value, or an error naming the column and the requested type.
    public func nonNullBytes<T>(for type: T.Type) throws(PostgresDecodingError) -> UnsafeRawBufferPointer {
        guard let bytes else { throw error(decoding: type, "the value is NULL; decode an Optional to accept NULL") }
        return bytes
    }

    /// An error for this column, naming the requested Swift type.
    public func error<T>(decoding type: T.Type, _ reason: String) -> PostgresDecodingError {
        PostgresDecodingError(column: columnName, columnType: self.type, swiftType: String(describing: type), reason: reason)
    }

    /// An error for a column type that the Swift type does not accept.
    public func typeMismatch<T>(_ type: T.Type) -> PostgresDecodingError {
        error(decoding: type, "unsupported column type")
    }
}

/// A Swift type that a column value can be decoded into.
public protocol PostgresDecodable: Sendable {
    static func decode(from value: PostgresValue) throws -> Self
}

/// Something both encodable and decodable.
public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

/// Reads big-endian integers from a value's bytes.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func readInteger<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
        guard remaining >= MemoryLayout<T>.size else { return nil }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(bigEndian: value)
    }

    mutating func readSlice(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }
}
