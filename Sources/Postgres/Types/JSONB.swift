#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A `Codable` value stored as `jsonb` (sent in jsonb's binary form: a version byte, then JSON text).
/// Decodes from json, jsonb and textual columns.
public struct JSONB<Value: Codable & Sendable>: PostgresCodable {
    public static var postgresType: PostgresType { .jsonb }

    public var value: Value

    public init(_ value: Value) { self.value = value }

    public func encode(into buffer: inout PostgresEncodingBuffer) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        buffer.writeInteger(UInt8(1))
        buffer.writeBytes(try encoder.encode(value))
    }

    public static func decode(from value: PostgresValue) throws -> JSONB<Value> {
        var bytes = try value.nonNullBytes(for: Self.self)
        switch value.type {
        case .jsonb:
            guard bytes.first == 1 else { throw value.error(decoding: Self.self, "unknown jsonb version") }
            bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
        case .json: break
        default: guard value.type.isTextual else { throw value.typeMismatch(Self.self) }
        }
        do {
            return JSONB(try JSONDecoder().decode(Value.self, from: Data(bytes)))
        } catch {
            throw value.error(decoding: Self.self, "invalid JSON for \(Value.self): \(error)")
        }
    }
}

/// Types that read a json/jsonb column themselves (as JSON text or a decoded value), so row decoding
/// hands them the column instead of running JSONDecoder over it.
protocol PostgresJSONText {}

extension JSONB: PostgresJSONText {}
extension String: PostgresJSONText {}

extension JSONB: Equatable where Value: Equatable {}
extension JSONB: Hashable where Value: Hashable {}
