public import Foundation

/// A UUID that JSON spells in lower case (`3f2b…`), as PostgreSQL prints it and as the API's contract,
/// its webhooks and `pdxctl --json` do; Foundation alone writes UUIDs in upper case. Either case is read.
@propertyWrapper
public struct LowercaseUUID: Codable, Sendable, Hashable {
    public var wrappedValue: UUID

    public init(wrappedValue: UUID) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let uuid = UUID(uuidString: try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be a UUID")
        }
        wrappedValue = uuid
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.uuidString.lowercased())
    }
}

extension UUID {
    /// Whether this UUID sorts before `other` as their strings do (`uuidString` < `other.uuidString`),
    /// without making the strings: hex digits sort as the bytes they spell.
    @inlinable
    public func precedes(_ other: UUID) -> Bool {
        withUnsafeBytes(of: uuid) { a in
            withUnsafeBytes(of: other.uuid) { b in
                for index in 0..<16 where a[index] != b[index] { return a[index] < b[index] }
                return false
            }
        }
    }
}
