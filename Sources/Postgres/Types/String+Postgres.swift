extension String: PostgresCodable, PostgresArrayElement {
    /// Strings are sent untyped, in text format, so the server infers the parameter's type from the
    /// statement: a string binds to text, varchar, an enum, jsonb, uuid or numeric alike.
    public static var postgresType: PostgresType { .unspecified }
    public static var postgresFormat: PostgresFormat { .text }
    public static var postgresArrayType: PostgresType { .textArray }
    public static var postgresArrayElementType: PostgresType { .text }

    public func encode(into buffer: inout PostgresEncodingBuffer) throws {
        var copy = self
        try copy.withUTF8 { utf8 in
            if utf8.contains(0) {
                throw PostgresError(kind: .encoding, message: "PostgreSQL text cannot contain the character U+0000 (NUL)")
            }
            buffer.writeBytes(utf8)
        }
    }

    /// Accepts every textual type (text, varchar, char, name, enums), json and jsonb (as their JSON text),
    /// uuid (lower-case canonical form) and numeric (its exact decimal text).
    public static func decode(from value: PostgresValue) throws -> String {
        let bytes = try value.nonNullBytes(for: String.self)
        switch value.type {
        case .json:
            return String(decoding: bytes, as: UTF8.self)
        case .jsonb:
            guard bytes.first == 1 else { throw value.error(decoding: String.self, "unknown jsonb version") }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), as: UTF8.self)
        case .uuid:
            return try UUIDBytes.decodeText(value)
        case .numeric:
            return try PostgresNumeric.decode(from: value).description
        default:
            if value.type.isTextual { return String(decoding: bytes, as: UTF8.self) }
            // An enum's binary form is its label. Other types made in the database (composites, arrays of
            // enums, extension types) have binary forms full of length words, hence NUL bytes: refuse those
            // rather than return garbage.
            guard value.type.isUserDefined, !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
                throw value.typeMismatch(String.self)
            }
            return text
        }
    }
}
