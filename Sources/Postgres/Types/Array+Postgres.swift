/// A type that can be an element of a one-dimensional PostgreSQL array.
public protocol PostgresArrayElement: PostgresCodable {
    /// The array type, e.g. `text[]` for strings.
    static var postgresArrayType: PostgresType { get }
    /// The element type written into the array header (defaults to `postgresType`).
    static var postgresArrayElementType: PostgresType { get }
}

extension PostgresArrayElement {
    public static var postgresArrayElementType: PostgresType { postgresType }
}

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    public static var postgresArrayType: PostgresType { Wrapped.postgresArrayType }
    public static var postgresArrayElementType: PostgresType { Wrapped.postgresArrayElementType }
}

/// One-dimensional arrays, sent and read in the binary array format; elements may be Optional (NULL).
extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public static var postgresType: PostgresType { Element.postgresArrayType }

    public func encode(into buffer: inout PostgresEncodingBuffer) throws {
        buffer.writeInteger(Int32(isEmpty ? 0 : 1))
        let hasNullOffset = buffer.count
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(Element.postgresArrayElementType.rawValue)
        guard !isEmpty else { return }
        guard let count = Int32(exactly: self.count) else {
            throw PostgresError(kind: .encoding, message: "an array of \(self.count) elements is too long")
        }
        buffer.writeInteger(count)
        buffer.writeInteger(Int32(1))
        var hasNull = false
        for element in self {
            let lengthOffset = buffer.count
            buffer.writeInteger(Int32(0))
            try element.encode(into: &buffer)
            if buffer.isNull {
                buffer.isNull = false
                buffer.bytes.removeSubrange((lengthOffset + 4)...)
                buffer.overwriteInt32(-1, at: lengthOffset)
                hasNull = true
            } else {
                buffer.overwriteInt32(Int32(buffer.count - lengthOffset - 4), at: lengthOffset)
            }
        }
        if hasNull { buffer.overwriteInt32(1, at: hasNullOffset) }
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    public static func decode(from value: PostgresValue) throws -> [Element] {
        let array = try BinaryArray(value, for: [Element].self)
        return try array.elements.map { bytes in
            try Element.decode(from: PostgresValue(result: value.result, column: value.column, type: array.elementType, bytes: bytes))
        }
    }
}

/// A one-dimensional array's element type and element bytes (nil for NULL), read from its binary form.
struct BinaryArray {
    let elementType: PostgresType
    let elements: [UnsafeRawBufferPointer?]

    init<T>(_ value: PostgresValue, for type: T.Type) throws {
        let bytes = try value.nonNullBytes(for: T.self)
        var reader = ByteReader(bytes)
        guard let dimensions = reader.readInteger(Int32.self), reader.readInteger(Int32.self) != nil,
              let oid = reader.readInteger(UInt32.self)
        else { throw value.error(decoding: T.self, "malformed array") }
        guard dimensions == 0 || dimensions == 1 else {
            throw value.error(decoding: T.self, "only one-dimensional arrays are supported, got \(dimensions) dimensions")
        }
        elementType = PostgresType(rawValue: oid)
        var elements: [UnsafeRawBufferPointer?] = []
        if dimensions == 1 {
            guard let count = reader.readInteger(Int32.self), reader.readInteger(Int32.self) != nil, count >= 0 else {
                throw value.error(decoding: T.self, "malformed array")
            }
            elements.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let length = reader.readInteger(Int32.self) else { throw value.error(decoding: T.self, "truncated array") }
                if length < 0 { elements.append(nil); continue }
                guard let slice = reader.readSlice(Int(length)) else { throw value.error(decoding: T.self, "truncated array") }
                elements.append(slice)
            }
        }
        self.elements = elements
    }
}
