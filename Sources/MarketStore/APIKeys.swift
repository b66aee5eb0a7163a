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
    /// When it stops working (nil: when revoked).
    public var expiresAt: Date?
    /// The key that replaced it when it was rotated.
    public var successorID: UUID?
}

/// Why a key was refused: a stable code the API answers 401 with.
public enum KeyRefusal: String, Sendable, Error {
    /// Malformed, unknown, revoked, or not the key whose prefix it carries.
    case invalid = "unauthorized"
    case expired = "key_expired"
    case partySuspended = "party_suspended"
    case partyClosed = "party_closed"
}

extension MarketStore {
    /// Creates a key for a party and returns it with the key itself, `pdx_<12 hex>_<48 hex>`, which is
    /// shown this once: only its SHA-256 is stored. The key stops working at `expiresAt` when given (at
    /// most 5 years away). A closed party gets no key.
    public func createAPIKey(party partyID: UUID, label: String = "", expiresAt: Date? = nil, by actor: Actor) async throws -> (key: APIKey, token: String) {
        try validateText(label, field: "label", maxLength: 200, required: false)
        return try await transaction { connection in
            try await connection.createAPIKey(party: partyID, label: label, expiresAt: expiresAt, action: "api_key.create", actor: actor)
        }
    }

    /// Replaces a live key by a successor (returned with its token, shown once), and lets the old key live
    /// for `grace` seconds more (at most 30 days; 0 ends it now). The successor keeps the old key's label
    /// and, when the old key expired, its lifetime, unless `expiresAt` says otherwise. A key rotates once.
    public func rotateAPIKey(_ id: UUID, grace: TimeInterval, expiresAt: Date? = nil, by actor: Actor) async throws -> (key: APIKey, token: String, previous: APIKey) {
        guard (0...(30 * 86_400)).contains(grace) else { throw MarketInputError(field: "grace", rule: "must be from 0 seconds to 30 days") }
        return try await transaction { connection in
            let rows = try await connection.query("""
                SELECT party_id, label, revoked_at IS NOT NULL, successor_id IS NOT NULL, coalesce(expires_at <= now(), false),
                       extract(epoch FROM expires_at - created_at)::float8, now()
                FROM api_keys WHERE id = \(id) FOR UPDATE
                """)
            guard let row = rows.first else { throw MarketNotFound("API key", id) }
            let (party, label, revoked, rotated, expired) = try row.decode(UUID.self, String.self, Bool.self, Bool.self, Bool.self, at: 0)
            let (lifetime, now) = try row.decode(Double?.self, Date.self, at: 5)
            guard !revoked, !rotated, !expired else {
                throw TransitionRefused(subject: "API key", from: revoked ? "revoked" : rotated ? "rotated" : "expired", to: "rotated", allowed: [])
            }
            let successorExpiry = expiresAt ?? lifetime.map { now.addingTimeInterval($0) }
            let (key, token) = try await connection.createAPIKey(party: party, label: label, expiresAt: successorExpiry, action: "api_key.rotate", actor: actor)
            let previous = try await connection.query("""
                UPDATE api_keys SET successor_id = \(key.id),
                    expires_at = CASE WHEN expires_at IS NULL OR expires_at > now() + make_interval(secs => \(grace))
                                      THEN greatest(now() + make_interval(secs => \(grace)), created_at + interval '1 microsecond') ELSE expires_at END
                WHERE id = \(id)
                RETURNING \(unsafeRaw: Self.keyColumns)
                """).map(Self.apiKey)
            try await connection.audit(actor, "api_key.rotated", "api_key", id,
                                       after: #"{"successor":"\#(key.id.uuidString.lowercased())","grace_seconds":\#(Int(grace))}"#)
            guard let previous = previous.first else { throw MarketNotFound("API key", id) }
            return (key, token, previous)
        }
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
            SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys
            WHERE \(partyID) IS NULL OR party_id = \(partyID) ORDER BY created_at DESC, id
            """).map(Self.apiKey)
    }

    public func apiKey(_ id: UUID) async throws -> APIKey {
        guard let key = try await query("SELECT \(unsafeRaw: Self.keyColumns) FROM api_keys WHERE id = \(id)").map(Self.apiKey).first else {
            throw MarketNotFound("API key", id)
        }
        return key
    }

    static let keyColumns = keyColumns("api_keys")

    static func keyColumns(_ alias: String) -> String {
        ["id", "party_id", "prefix", "label", "created_at", "revoked_at", "expires_at", "successor_id"].map { "\(alias).\($0)" }.joined(separator: ", ")
    }

    static func apiKey(_ row: PostgresRow) throws -> APIKey { try apiKey(row, from: 0) }

    static func apiKey(_ row: PostgresRow, from start: Int) throws -> APIKey {
        let (id, party, prefix, label, created, revoked, expires, successor) = try row.decode(
            UUID.self, UUID.self, String.self, String.self, Date.self, Date?.self, Date?.self, UUID?.self, at: start)
        return APIKey(id: id, partyID: party, prefix: prefix, label: label, createdAt: created, revokedAt: revoked, expiresAt: expires,
                      successorID: successor)
    }

    /// The party a key belongs to; nil for a key that is refused (see `checkAPIKey`).
    public func authenticate(apiKey token: String) async throws -> Party? {
        if case .success(let found) = try await checkAPIKey(token) { return found.party }
        return nil
    }

    /// The key and its party, or why the key is refused: malformed, unknown or revoked (`invalid`), expired,
    /// or its party suspended or closed. The stored hash is compared in constant time, before anything else
    /// about the key is told.
    public func checkAPIKey(_ token: String) async throws -> Result<(party: Party, key: APIKey), KeyRefusal> {
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "pdx", parts[1].count == 12, parts[2].count == 48,
              (parts[1] + parts[2]).allSatisfy(\.isHexDigit) else { return .failure(.invalid) }
        let rows = try await query("""
            SELECT \(unsafeRaw: Rows.partyColumns("p")), k.key_sha256, coalesce(k.expires_at <= now(), false),
                   \(unsafeRaw: Self.keyColumns("k"))
            FROM api_keys k JOIN parties p ON p.id = k.party_id
            WHERE k.prefix = \(String(parts[1])) AND k.revoked_at IS NULL
            """)
        guard let row = rows.first else { return .failure(.invalid) }
        let (hash, expired) = try row.decode(Data.self, Bool.self, at: Rows.partyColumnCount)
        guard Self.constantTimeEqual(hash, Self.digest(token)) else { return .failure(.invalid) }
        guard !expired else { return .failure(.expired) }
        let party = try Rows.party(row, from: 0)
        switch party.state {
        case .active: break
        case .suspended: return .failure(.partySuspended)
        case .closed: return .failure(.partyClosed)
        }
        return .success((party, try Self.apiKey(row, from: Rows.partyColumnCount + 2)))
    }

    static func digest(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }

    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// A fresh random secret of `bytes` bytes from the system's secure generator, in hex.
    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}

extension PostgresConnection {
    func createAPIKey(party partyID: UUID, label: String, expiresAt: Date?, action: String, actor: Actor) async throws -> (key: APIKey, token: String) {
        let prefix = MarketStore.randomHex(6), token = "pdx_\(prefix)_\(MarketStore.randomHex(24))"
        let id = UUID()
        let now = try await self.now()
        if let expiresAt, expiresAt <= now || expiresAt > now.addingTimeInterval(5 * 366 * 86_400) {
            throw MarketInputError(field: "expires_at", rule: "must be in the future and at most 5 years away")
        }
        guard try await query("SELECT 1 FROM parties WHERE id = \(partyID)").count == 1 else {
            throw MarketInputError(field: "party", rule: "must name a registered party")
        }
        let created = try await query("""
            INSERT INTO api_keys (id, party_id, prefix, key_sha256, label, expires_at)
            VALUES (\(id), \(partyID), \(prefix), \(MarketStore.digest(token)), \(label), \(expiresAt))
            RETURNING created_at
            """).scalar(Date.self) ?? now
        let expiry = expiresAt.map { #","expires_at":"\#(iso8601($0))""# } ?? ""
        try await audit(actor, action, "api_key", id, after: #"{"party":"\#(partyID.uuidString.lowercased())","prefix":"\#(prefix)"\#(expiry)}"#)
        return (APIKey(id: id, partyID: partyID, prefix: prefix, label: label, createdAt: created, revokedAt: nil, expiresAt: expiresAt), token)
    }
}
