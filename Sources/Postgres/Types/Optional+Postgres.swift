extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresType: PostgresType { Wrapped.postgresType }
    public static var postgresFormat: PostgresFormat { Wrapped.postgresFormat }

    public func encode(into buffer: inout PostgresEncodingBuffer) throws {
        switch self {
        case .none: buffer.markNull()
        case .some(let wrapped): try wrapped.encode(into: &buffer)
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from value: PostgresValue) throws -> Self {
        guard value.bytes != nil else { return nil }
        return try Wrapped.decode(from: value)
    }
}
