public import Foundation
public import Market
import Postgres

/// An administrator's key as stored: its prefix and the SHA-256 of the whole key, never the key.
public struct AdminKey: Sendable, Equatable, Codable {
    public var id: UUID
    /// The administrator, as the audit trail names them (`admin:<name>`).
    public var name: String
    public var prefix: String
    public var label: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
}

/// Who a console session is for, read afresh on every request from the session and the key it was opened with.
public struct ConsoleViewer: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        case administrator(name: String)
        case party(Party)
    }

    public var sessionID: UUID
    public var role: Role
    /// The key the session was opened with (an `admin_keys` or `api_keys` id).
    public var keyID: UUID
    /// What every state-changing form of this session must send back.
    public var csrfToken: String
    public var expiresAt: Date

    /// Who the audit trail says made a change through this session.
    public var actor: Actor {
        switch role {
        case .administrator(let name): .administrator(name)
        case .party(let party): .party(party.id)
        }
    }
}

extension MarketStore {
    /// How long a console session lasts from sign-in.
    public static let consoleSessionLifetime: TimeInterval = 12 * 3_600

    /// Creates a key for an administrator and returns it with the key itself, `pdxadm_<12 hex>_<48 hex>`,
    /// shown this once. `name` is who the administrator is in the audit trail (`admin:<name>`).
    public func createAdminKey(name: String, label: String = "", expiresAt: Date? = nil, by actor: Actor) async throws -> (key: AdminKey, token: String) {
        guard name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"#, options: .regularExpression) != nil else {
            throw MarketInputError(field: "name", rule: "must be 1 to 100 letters, digits or . _ @ - (starting with a letter or digit)")
        }
        try validateText(label, field: "label", maxLength: 200, required: false)
        return try await transaction { connection in
            let now = try await connection.now()
            if let expiresAt, expiresAt <= now || expiresAt > now.addingTimeInterval(5 * 366 * 86_400) {
                throw MarketInputError(field: "expires_at", rule: "must be in the future and at most 5 years away")
            }
            let prefix = Self.randomHex(6), token = "pdxadm_\(prefix)_\(Self.randomHex(24))"
            let id = try await connection.query("""
                INSERT INTO admin_keys (name, prefix, key_sha256, label, expires_at)
                VALUES (\(name), \(prefix), \(Self.digest(token)), \(label), \(expiresAt)) RETURNING id, created_at
                """)
            guard let row = id.first else { throw MarketNotFound("admin key", UUID()) }
            let (keyID, created) = try row.decode(UUID.self, Date.self)
            try await connection.audit(actor, "admin_key.create", "admin_key", keyID, after: try json(["name": name, "prefix": prefix]))
            return (AdminKey(id: keyID, name: name, prefix: prefix, label: label, createdAt: created, expiresAt: expiresAt, revokedAt: nil), token)
        }
    }

    /// Administrators' keys, newest first.
    public func adminKeys() async throws -> [AdminKey] {
        try await query("SELECT id, name, prefix, label, created_at, expires_at, revoked_at FROM admin_keys ORDER BY created_at DESC, id").map { row in
            let (id, name, prefix, label, created, expires, revoked) = try row.decode(UUID.self, String.self, String.self, String.self, Date.self, Date?.self, Date?.self)
            return AdminKey(id: id, name: name, prefix: prefix, label: label, createdAt: created, expiresAt: expires, revokedAt: revoked)
        }
    }

    /// Revokes an administrator's key for good; its console sessions end with it.
    public func revokeAdminKey(_ id: UUID, reason: String, by actor: Actor) async throws {
        try validateText(reason, field: "reason", maxLength: 2000)
        try await transaction { connection in
            guard try await connection.execute("UPDATE admin_keys SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL") == 1 else {
                guard try await connection.query("SELECT 1 FROM admin_keys WHERE id = \(id)").count == 1 else { throw MarketNotFound("admin key", id) }
                throw TransitionRefused(subject: "admin key", from: "revoked", to: "revoked", allowed: [])
            }
            try await connection.execute("UPDATE console_sessions SET ended_at = now() WHERE admin_key_id = \(id) AND ended_at IS NULL")
            try await connection.audit(actor, "admin_key.revoke", "admin_key", id, reason: reason)
        }
    }

    /// Opens a console session with an administrator's key or a party's API key, and returns who it is for
    /// with the session's token (for the cookie; only its SHA-256 is stored). A refused key is told apart
    /// as the API tells it apart (unknown, expired, party suspended or closed). Audited.
    public func openConsoleSession(key token: String, lifetime: TimeInterval = consoleSessionLifetime) async throws -> Result<(viewer: ConsoleViewer, token: String), KeyRefusal> {
        let opener: (role: ConsoleViewer.Role, keyID: UUID, admin: UUID?, apiKey: UUID?, actor: Actor)
        if token.hasPrefix("pdxadm_") {
            switch try await checkAdminKey(token) {
            case .failure(let refusal): return .failure(refusal)
            case .success(let key): opener = (.administrator(name: key.name), key.id, key.id, nil, .administrator(key.name))
            }
        } else {
            switch try await checkAPIKey(token) {
            case .failure(let refusal): return .failure(refusal)
            case .success(let found): opener = (.party(found.party), found.key.id, nil, found.key.id, .party(found.party.id))
            }
        }
        let sessionToken = Self.randomHex(32), csrf = Self.randomHex(32)
        let session = try await transaction { connection in
            try await connection.insertSession(token: sessionToken, csrf: csrf, admin: opener.admin, apiKey: opener.apiKey, lifetime: lifetime,
                                               actor: opener.actor)
        }
        return .success((ConsoleViewer(sessionID: session.id, role: opener.role, keyID: opener.keyID, csrfToken: csrf, expiresAt: session.expiresAt),
                         sessionToken))
    }

    /// The administrator's key a token is, or why it is refused (malformed, unknown or revoked: `invalid`;
    /// expired). The stored hash is compared in constant time before anything else is told.
    public func checkAdminKey(_ token: String) async throws -> Result<AdminKey, KeyRefusal> {
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "pdxadm", parts[1].count == 12, parts[2].count == 48,
              (parts[1] + parts[2]).allSatisfy(\.isHexDigit) else { return .failure(.invalid) }
        let rows = try await query("""
            SELECT id, name, prefix, label, created_at, expires_at, revoked_at, key_sha256, coalesce(expires_at <= now(), false) FROM admin_keys
            WHERE prefix = \(String(parts[1])) AND revoked_at IS NULL
            """)
        guard let row = rows.first else { return .failure(.invalid) }
        let (id, name, prefix, label, created, expires, revoked) = try row.decode(UUID.self, String.self, String.self, String.self, Date.self, Date?.self, Date?.self, at: 0)
        let (hash, expired) = try row.decode(Data.self, Bool.self, at: 7)
        guard Self.constantTimeEqual(hash, Self.digest(token)) else { return .failure(.invalid) }
        guard !expired else { return .failure(.expired) }
        return .success(AdminKey(id: id, name: name, prefix: prefix, label: label, createdAt: created, expiresAt: expires, revokedAt: revoked))
    }

    /// The session a cookie's token opens, or nil when there is none, it ended or expired, or its key was
    /// revoked or expired or its party is no longer active.
    public func consoleSession(token: String) async throws -> ConsoleViewer? {
        guard token.count == 64, token.allSatisfy(\.isHexDigit) else { return nil }
        let rows = try await query("""
            SELECT s.id, s.csrf_token, s.expires_at, a.id, a.name, k.id, k.party_id
            FROM console_sessions s
            LEFT JOIN admin_keys a ON a.id = s.admin_key_id AND a.revoked_at IS NULL AND coalesce(a.expires_at > now(), true)
            LEFT JOIN api_keys k ON k.id = s.api_key_id AND k.revoked_at IS NULL AND coalesce(k.expires_at > now(), true)
            WHERE s.token_sha256 = \(Self.digest(token)) AND s.ended_at IS NULL AND s.expires_at > now()
            """)
        guard let row = rows.first else { return nil }
        let (id, csrf, expires, adminID, adminName, keyID, partyID) = try row.decode(
            UUID.self, String.self, Date.self, UUID?.self, String?.self, UUID?.self, UUID?.self)
        if let adminID, let adminName {
            return ConsoleViewer(sessionID: id, role: .administrator(name: adminName), keyID: adminID, csrfToken: csrf, expiresAt: expires)
        }
        guard let keyID, let partyID else { return nil }
        let party = try await self.party(partyID)
        guard party.state == .active else { return nil }
        return ConsoleViewer(sessionID: id, role: .party(party), keyID: keyID, csrfToken: csrf, expiresAt: expires)
    }

    /// Ends a session (signing out). Audited; ending an ended session changes nothing.
    public func endConsoleSession(_ viewer: ConsoleViewer) async throws {
        try await transaction { connection in
            if try await connection.execute("UPDATE console_sessions SET ended_at = now() WHERE id = \(viewer.sessionID) AND ended_at IS NULL") == 1 {
                try await connection.audit(viewer.actor, "console.sign_out", "console_session", viewer.sessionID)
            }
        }
    }
}

extension PostgresConnection {
    fileprivate func insertSession(token: String, csrf: String, admin: UUID?, apiKey: UUID?, lifetime: TimeInterval,
                                   actor: Actor) async throws -> (id: UUID, expiresAt: Date) {
        // Sessions that ended or expired more than a day ago are of no more use to anyone.
        try await execute("DELETE FROM console_sessions WHERE expires_at < now() - interval '1 day'")
        let rows = try await query("""
            INSERT INTO console_sessions (token_sha256, admin_key_id, api_key_id, csrf_token, expires_at)
            VALUES (\(MarketStore.digest(token)), \(admin), \(apiKey), \(csrf), now() + make_interval(secs => \(lifetime)))
            RETURNING id, expires_at
            """)
        guard let row = rows.first else { throw PostgresError(kind: .invalidUsage, message: "the session was not stored") }
        let (id, expires) = try row.decode(UUID.self, Date.self)
        try await audit(actor, "console.sign_in", "console_session", id)
        return (id, expires)
    }
}
