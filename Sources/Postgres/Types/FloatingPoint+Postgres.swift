extension Double: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .float8 }
    public static var postgresArrayType: PostgresType { .float8Array }

    public func encode(into buffer: inout PostgresEncodingBuffer) { buffer.writeInteger(bitPattern) }

    /// Accepts float8 and float4; numeric is refused because a double would lose digits (decode a `Decimal`
    /// or `PostgresNumeric` instead).
    public static func decode(from value: PostgresValue) throws -> Double {
        let bytes = try value.nonNullBytes(for: Double.self)
        var reader = ByteReader(bytes)
        switch value.type {
        case .float8 where bytes.count == 8:
            if let bits = reader.readInteger(UInt64.self) { return Double(bitPattern: bits) }
        case .float4 where bytes.count == 4:
            if let bits = reader.readInteger(UInt32.self) { return Double(Float(bitPattern: bits)) }
        case .float8, .float4:
            break
        default:
            throw value.typeMismatch(Double.self)
        }
        throw value.error(decoding: Double.self, "unexpected length \(bytes.count)")
    }
}

extension Float: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .float4 }
    public static var postgresArrayType: PostgresType { .float4Array }

    public func encode(into buffer: inout PostgresEncodingBuffer) { buffer.writeInteger(bitPattern) }

    public static func decode(from value: PostgresValue) throws -> Float {
        let bytes = try value.nonNullBytes(for: Float.self)
        guard value.type == .float4 else { throw value.typeMismatch(Float.self) }
        var reader = ByteReader(bytes)
        guard bytes.count == 4, let bits = reader.readInteger(UInt32.self) else {
            throw value.error(decoding: Float.self, "unexpected length \(bytes.count)")
        }
        return Float(bitPattern: bits)
    }
}
