extension Bool: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .bool }
    public static var postgresArrayType: PostgresType { .boolArray }

    public func encode(into buffer: inout PostgresEncodingBuffer) {
        buffer.writeInteger(UInt8(self ? 1 : 0))
    }

    public static func decode(from value: PostgresValue) throws -> Bool {
        let bytes = try value.nonNullBytes(for: Bool.self)
        guard value.type == .bool else { throw value.typeMismatch(Bool.self) }
        guard bytes.count == 1 else { throw value.error(decoding: Bool.self, "expected 1 byte, got \(bytes.count)") }
        return bytes[0] != 0
    }
}
