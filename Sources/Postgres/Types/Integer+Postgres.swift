/// Decodes any PostgreSQL integer column (int2, int4, int8, oid) into `T`, refusing values that do not fit.
func decodeInteger<T: FixedWidthInteger>(_ value: PostgresValue, as type: T.Type) throws -> T {
    let bytes = try value.nonNullBytes(for: T.self)
    var reader = ByteReader(bytes)
    let wide: Int64?
    switch value.type {
    case .int2 where bytes.count == 2: wide = reader.readInteger(Int16.self).map(Int64.init)
    case .int4 where bytes.count == 4: wide = reader.readInteger(Int32.self).map(Int64.init)
    case .int8 where bytes.count == 8: wide = reader.readInteger(Int64.self)
    case .oid where bytes.count == 4: wide = reader.readInteger(UInt32.self).map(Int64.init)
    case .int2, .int4, .int8, .oid:
        throw value.error(decoding: T.self, "unexpected length \(bytes.count)")
    default:
        throw value.typeMismatch(T.self)
    }
    guard let wide else { throw value.error(decoding: T.self, "truncated value") }
    guard let result = T(exactly: wide) else {
        throw value.error(decoding: T.self, "value \(wide) is out of range")
    }
    return result
}

extension Int: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .int8 }
    public static var postgresArrayType: PostgresType { .int8Array }
    public func encode(into buffer: inout PostgresEncodingBuffer) { buffer.writeInteger(Int64(self)) }
    public static func decode(from value: PostgresValue) throws -> Int { try decodeInteger(value, as: Int.self) }
}

extension Int64: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .int8 }
    public static var postgresArrayType: PostgresType { .int8Array }
    public func encode(into buffer: inout PostgresEncodingBuffer) { buffer.writeInteger(self) }
    public static func decode(from value: PostgresValue) throws -> Int64 { try decodeInteger(value, as: Int64.self) }
}

extension Int32: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .int4 }
    public static var postgresArrayType: PostgresType { .int4Array }
    public func encode(into buffer: inout PostgresEncodingBuffer) { buffer.writeInteger(self) }
    public static func decode(from value: PostgresValue) throws -> Int32 { try decodeInteger(value, as: Int32.self) }
}

extension Int16: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .int2 }
    public static var postgresArrayType: PostgresType { .int2Array }
    public func encode(into buffer: inout PostgresEncodingBuffer) { buffer.writeInteger(self) }
    public static func decode(from value: PostgresValue) throws -> Int16 { try decodeInteger(value, as: Int16.self) }
}
