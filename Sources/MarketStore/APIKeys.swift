import Crypto
public import Foundation
public import Market
import Postgres

/// An API key as stored: never the key itself, only its prefix and the SHA-256 of the whole key.
public struct APIKey: Sendable, Equatable, Codable {
    public var id: UUID
    public var partyID: UUID
    /// The part of the key that finds it (`pdx_<prefix>_…`), safe to show.
    public var prefix: String
    public var label: String
    public var createdAt: Date
    public var revokedAt: Date?
}

extension MarketStore {
    /// Creates a key for a party and returns it with the key itself, `pdx_<12 hex>_<48 hex>`, which is
    /// shown this once: only its SHA-256 is stored.
    public func createAPIKey(party partyID: UUID, label: String = "", by actor: Actor) async throws -> (key: APIKey, token: String) {
        try validateText(label, field: "label", maxLength: 200, required: false)
        var generator = SystemRandomNumberGenerator()
        func hex(_ bytes: Int) -> String {
            (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
        }
        let prefix = hex(6), token = "pdx_\(prefix)_\(hex(24))"
        let id = UUID()
        let created = try await transaction { connection in
            guard try await connection.query("SELECT 1 FROM parties WHERE id = \(partyID)").count == 1 else {
                throw MarketInputError(field: "party", rule: "must name a registered party")
            }
            let created = try await connection.query("""
                INSERT INTO api_keys (id, party_id, prefix, key_sha256, label) VALUES (\(id), \(partyID), \(prefix), \(Self.digest(token)), \(label))
                RETURNING created_at
                """).scalar(Date.self) ?? Date()
            try await connection.audit(actor, "api_key.create", "api_key", id, after: #"{"party":"\#(partyID.uuidString.lowercased())","prefix":"\#(prefix)"}"#)
            return created
        }
        return (APIKey(id: id, partyID: partyID, prefix: prefix, label: label, createdAt: created, revokedAt: nil), token)
    }

    /// Revokes a key for good (revoking a revoked key is refused as a state conflict).
    public func revokeAPIKey(_ id: UUID, reason: String, by actor: Actor) async throws {
        try await transaction { connection in
            let revoked = try await connection.execute("UPDATE api_keys SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL")
            guard revoked == 1 else {
                guard try await connection.query("SELECT 1 FROM api_keys WHERE id = \(id)").count == 1 else { throw MarketNotFound("API key", id) }
                throw TransitionRefused(subject: "API key", from: "revoked", to: "revoked", allowed: [])
            }
            try await connection.audit(actor, "api_key.revoke", "api_key", id, reason: reason)
        }
    }

    /// Keys, newest first, of one party or of all.
    public func apiKeys(party partyID: UUID? = nil) async throws -> [APIKey] {
        try await query("""
            SELECT id, party_id, prefix, label, created_at, revoked_at FROM api_keys
            WHERE \(partyID) IS NULL OR party_id = \(partyID) ORDER BY created_at DESC, id
            """).decode(UUID.self, UUID.self, String.self, String.self, Date.self, Date?.self).map {
            APIKey(id: $0.0, partyID: $0.1, prefix: $0.2, label: $0.3, createdAt: $0.4, revokedAt: $0.5)
        }
    }

    /// The party a key belongs to; nil for a malformed, unknown or revoked key. The stored hash is compared
    /// in constant time.
    public func authenticate(apiKey token: String) async throws -> Party? {
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "pdx", parts[1].count == 12, parts[2].count == 48,
              (parts[1] + parts[2]).allSatisfy(\.isHexDigit) else { return nil }
        let rows = try await query("""
            SELECT \(unsafeRaw: Rows.partyColumns("p")), k.key_sha256
            FROM api_keys k JOIN parties p ON p.id = k.party_id
            WHERE k.prefix = \(String(parts[1])) AND k.revoked_at IS NULL
            """)
        guard let row = rows.first else { return nil }
        guard Self.constantTimeEqual(try row.decode(Data.self, at: Rows.partyColumnCount), Self.digest(token)) else { return nil }
        return try Rows.party(row, from: 0)
    }

    static func digest(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }

    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
