#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

enum UUIDBytes {
    static func decode(_ value: PostgresValue) throws -> UUID {
        let bytes = try value.nonNullBytes(for: UUID.self)
        guard bytes.count == 16 else { throw value.error(decoding: UUID.self, "expected 16 bytes, got \(bytes.count)") }
        let b = Array(bytes)
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    /// The lower-case canonical form PostgreSQL prints.
    static func decodeText(_ value: PostgresValue) throws -> String {
        try decode(value).uuidString.lowercased()
    }
}


extension UUID: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .uuid }
    public static var postgresArrayType: PostgresType { .uuidArray }

    public func encode(into buffer: inout PostgresEncodingBuffer) {
        withUnsafeBytes(of: uuid) { buffer.writeBytes($0) }
    }

    /// Accepts uuid columns and textual columns holding a UUID.
    public static func decode(from value: PostgresValue) throws -> UUID {
        if value.type == .uuid { return try UUIDBytes.decode(value) }
        guard value.type.isTextual else { throw value.typeMismatch(UUID.self) }
        let text = String(decoding: try value.nonNullBytes(for: UUID.self), as: UTF8.self)
        guard let uuid = UUID(uuidString: text) else { throw value.error(decoding: UUID.self, "not a UUID") }
        return uuid
    }
}

/// Seconds from 2001-01-01 (Foundation's reference date) back to 2000-01-01 (PostgreSQL's epoch).
private let postgresEpochOffset: Double = 31_622_400

extension Date: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .timestamptz }
    public static var postgresArrayType: PostgresType { .timestamptzArray }

    /// Sent as timestamptz, rounded to the microsecond (PostgreSQL's resolution); `distantFuture` and
    /// `distantPast` travel as infinity and -infinity, as they decode.
    public func encode(into buffer: inout PostgresEncodingBuffer) {
        if self == .distantFuture { return buffer.writeInteger(Int64.max) }
        if self == .distantPast { return buffer.writeInteger(Int64.min) }
        let micros = ((timeIntervalSinceReferenceDate + postgresEpochOffset) * 1_000_000).rounded()
        buffer.writeInteger(Int64(exactly: micros) ?? (micros > 0 ? Int64.max : Int64.min))
    }

    /// Accepts timestamptz, timestamp (read as UTC) and date (midnight UTC); infinity maps to
    /// `distantFuture` / `distantPast`.
    public static func decode(from value: PostgresValue) throws -> Date {
        let bytes = try value.nonNullBytes(for: Date.self)
        var reader = ByteReader(bytes)
        switch value.type {
        case .timestamptz, .timestamp:
            guard bytes.count == 8, let micros = reader.readInteger(Int64.self) else {
                throw value.error(decoding: Date.self, "unexpected length \(bytes.count)")
            }
            if micros == .max { return .distantFuture }
            if micros == .min { return .distantPast }
            return Date(timeIntervalSinceReferenceDate: Double(micros) / 1_000_000 - postgresEpochOffset)
        case .date:
            guard bytes.count == 4, let days = reader.readInteger(Int32.self) else {
                throw value.error(decoding: Date.self, "unexpected length \(bytes.count)")
            }
            if days == .max { return .distantFuture }
            if days == .min { return .distantPast }
            return Date(timeIntervalSinceReferenceDate: Double(days) * 86_400 - postgresEpochOffset)
        default:
            throw value.typeMismatch(Date.self)
        }
    }
}

extension Data: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .bytea }
    public static var postgresArrayType: PostgresType { .byteaArray }

    public func encode(into buffer: inout PostgresEncodingBuffer) { buffer.writeBytes(self) }

    public static func decode(from value: PostgresValue) throws -> Data {
        let bytes = try value.nonNullBytes(for: Data.self)
        guard value.type == .bytea else { throw value.typeMismatch(Data.self) }
        return Data(bytes)
    }
}

extension Decimal: PostgresCodable, PostgresArrayElement {
    public static var postgresType: PostgresType { .numeric }
    public static var postgresArrayType: PostgresType { .numericArray }

    public func encode(into buffer: inout PostgresEncodingBuffer) throws {
        guard let numeric = PostgresNumeric(isNaN ? "NaN" : description) else {
            throw PostgresError(kind: .encoding, message: "the decimal \(self) has no numeric form")
        }
        try numeric.encode(into: &buffer)
    }

    /// Decodes numeric columns exactly; a value with more significant digits than `Decimal` holds (38)
    /// is refused rather than rounded.
    public static func decode(from value: PostgresValue) throws -> Decimal {
        let numeric = try PostgresNumeric.decode(from: value)
        if numeric.description == "NaN" { return .nan }
        if numeric.description.hasSuffix("Infinity") {
            throw value.error(decoding: Decimal.self, "Decimal has no infinity; decode PostgresNumeric or String")
        }
        guard numeric.significantDigits <= 38, let decimal = Decimal(string: numeric.description) else {
            throw value.error(decoding: Decimal.self, "\(numeric) has more digits than Decimal holds; decode PostgresNumeric or String")
        }
        return decimal
    }
}
