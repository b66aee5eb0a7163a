import Crypto
public import Foundation
public import Market
import Postgres
public import PDXTokens

/// What a delivered order entitles its buyer to (sql/0019): its state follows its causes in the database.
public struct Entitlement: Sendable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable { case active, suspended, expired, revoked }

    public var id: UUID
    public var orderID: UUID
    public var buyerID: UUID
    public var sellerID: UUID
    public var productID: UUID
    public var productVersion: Int
    public var scenario: String?
    public var purpose: Purpose
    public var chargeUnit: ChargeUnit
    /// Nil: unmetered.
    public var unitsGranted: Int64?
    public var unitsUsed: Int64
    public var startsAt: Date
    public var endsAt: Date
    public var state: State
    public var stateReason: String?
    public var stateChangedAt: Date

    public var unitsLeft: Int64? { unitsGranted.map { $0 - unitsUsed } }

    /// Whether it entitles its buyer at `now`: active and within its term.
    public func inForce(at now: Date) -> Bool { state == .active && startsAt <= now && now < endsAt }

    /// Why a token for it is not honoured at `now` (`POST /v1/entitlements/verify`'s reason), nil when it is.
    public func refusal(at now: Date) -> String? {
        switch state {
        case .active: endsAt <= now ? "entitlement_ended" : nil
        case .suspended: "entitlement_suspended"
        case .expired, .revoked: "entitlement_ended"
        }
    }
}

/// A token handed to a buyer.
public struct IssuedToken: Sendable, Equatable {
    public var token: String
    public var keyID: String
    public var expiresAt: Date
    public var claims: EntitlementClaims
}

/// A signing key as `pdxctl signing-keys list` shows it (never its private half).
public struct SigningKeyInfo: Sendable, Equatable, Codable {
    public var kid: String
    public var algorithm: String
    public var createdAt: Date
    public var createdBy: String
    /// When it stopped signing (nil: it signs).
    public var retiredAt: Date?
    /// Whether `/.well-known/jwks.json` lists it now.
    public var published: Bool
}

extension MarketStore {
    static let entitlementColumns = """
        e.id, e.order_id, e.buyer_id, e.seller_id, e.product_id, e.product_version, e.scenario, e.purpose::text, e.charge_unit::text,
        e.units_granted, e.units_used, e.starts_at, e.ends_at, e.state::text, e.state_reason, e.state_changed_at
        """

    static func entitlement(_ row: PostgresRow) throws -> Entitlement {
        let (id, order, buyer, seller, product, version, scenario, purpose) = try row.decode(
            UUID.self, UUID.self, UUID.self, UUID.self, UUID.self, Int32.self, String?.self, String.self, at: 0)
        let (unit, granted, used, starts, ends, state, reason, changed) = try row.decode(
            String.self, Int64?.self, Int64.self, Date.self, Date.self, String.self, String?.self, Date.self, at: 8)
        return Entitlement(id: id, orderID: order, buyerID: buyer, sellerID: seller, productID: product, productVersion: Int(version),
                           scenario: scenario, purpose: try Rows.known(purpose, Purpose.self, "entitlements.purpose"),
                           chargeUnit: try Rows.known(unit, ChargeUnit.self, "entitlements.charge_unit"), unitsGranted: granted, unitsUsed: used,
                           startsAt: starts, endsAt: ends, state: try Rows.known(state, Entitlement.State.self, "entitlements.state"),
                           stateReason: reason, stateChangedAt: changed)
    }

    /// An entitlement its buyer or seller may read (404 for anyone else).
    public func entitlement(_ id: UUID, for party: UUID? = nil) async throws -> Entitlement {
        let rows = try await query("SELECT \(unsafeRaw: Self.entitlementColumns) FROM entitlements e WHERE e.id = \(id)")
        guard let row = rows.first else { throw MarketNotFound("entitlement", id) }
        let entitlement = try Self.entitlement(row)
        if let party, party != entitlement.buyerID, party != entitlement.sellerID { throw MarketNotFound("entitlement", id) }
        return entitlement
    }

    /// The entitlements a party holds (as buyer) or serves (as seller), in id order after `cursor`.
    public func entitlements(of party: UUID, state: Entitlement.State? = nil, after cursor: UUID? = nil, limit: Int = 50) async throws -> [Entitlement] {
        guard (1...200).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 200") }
        return try await query("""
            SELECT \(unsafeRaw: Self.entitlementColumns) FROM entitlements e
            WHERE (e.buyer_id = \(party) OR e.seller_id = \(party)) AND (\(state?.rawValue)::text IS NULL OR e.state::text = \(state?.rawValue))
              AND (\(cursor)::uuid IS NULL OR e.id > \(cursor))
            ORDER BY e.id LIMIT \(Int32(limit))
            """).map(Self.entitlement)
    }

    /// Ends an entitlement whose end date has come (the `expire_entitlement` job); true if it moved.
    @discardableResult
    public func expireEntitlement(_ id: UUID) async throws -> Bool {
        try await transaction { connection in
            try await connection.query("SELECT pdx_entitlements_refresh(ARRAY[\(id)]::uuid[])").scalar(Int32.self) ?? 0 > 0
        }
    }

    // MARK: Tokens

    /// A short-lived token for one of the buyer's entitlements in force, signed with the current key (one is
    /// made the first time). It expires after `lifetime` (at most an hour) or at the entitlement's end.
    public func issueToken(entitlement id: UUID, buyer: UUID, lifetime: TimeInterval = EntitlementToken.defaultLifetime,
                           by actor: Actor) async throws -> IssuedToken {
        guard lifetime >= 60, lifetime <= EntitlementToken.maximumLifetime else {
            throw MarketInputError(field: "ttl_seconds", rule: "must be from 60 to \(Int(EntitlementToken.maximumLifetime))")
        }
        let entitlement = try await self.entitlement(id)
        guard entitlement.buyerID == buyer else { throw MarketNotFound("entitlement", id) }
        let now = try await self.now()
        guard entitlement.inForce(at: now) else {
            throw TransitionRefused(subject: "entitlement", from: entitlement.endsAt <= now ? "ended" : entitlement.state.rawValue,
                                    to: "tokened", allowed: [])
        }
        let (kid, key) = try await signingKey()
        let expires = min(now + lifetime, entitlement.endsAt)
        let claims = EntitlementClaims(buyer: buyer, seller: entitlement.sellerID, entitlement: id, product: entitlement.productID,
                                       version: entitlement.productVersion, scenario: entitlement.scenario, purpose: entitlement.purpose.rawValue,
                                       issuedAt: now, expiresAt: expires)
        let token = try EntitlementToken.sign(claims, kid: kid, key: key)
        try await transaction { connection in
            try await connection.audit(actor, "entitlement.token", "entitlement", id,
                                       after: #"{"kid":"\#(kid)","jti":"\#(claims.jti)","exp":\#(claims.exp)}"#)
        }
        return IssuedToken(token: token, keyID: kid, expiresAt: claims.expiresAt, claims: claims)
    }

    /// The key that signs now, made if there is none.
    func signingKey() async throws -> (String, P256.Signing.PrivateKey) {
        if let found = try await currentSigningKey() { return found }
        _ = try await transaction { connection in try await connection.insertSigningKey(by: "pdx (first token)", replacing: false) }
        guard let found = try await currentSigningKey() else { throw MarketNotFound("signing key", UUID()) }
        return found
    }

    func currentSigningKey() async throws -> (String, P256.Signing.PrivateKey)? {
        guard let row = try await query("SELECT kid, private_key FROM signing_keys WHERE retired_at IS NULL").first else { return nil }
        let (kid, raw) = try row.decode(String.self, Data.self)
        return (kid, try P256.Signing.PrivateKey(rawRepresentation: raw))
    }

    /// Retires the signing key (it stays published while its tokens can live) and makes a new one.
    public func rotateSigningKey(by author: String, reason: String) async throws -> String {
        try validateText(author, field: "actor", maxLength: 200)
        try validateText(reason, field: "reason", maxLength: 2000)
        return try await transaction { connection in
            let kid = try await connection.insertSigningKey(by: author, replacing: true)
            try await connection.audit(.administrator(author), "signing_key.rotate", "signing_key", kid, reason: reason)
            return kid
        }
    }

    public func signingKeys() async throws -> [SigningKeyInfo] {
        try await query("""
            SELECT kid, algorithm, created_at, created_by, retired_at,
                   retired_at IS NULL OR retired_at > now() - make_interval(secs => \(EntitlementToken.maximumLifetime))
            FROM signing_keys ORDER BY created_at, kid
            """).decode(String.self, String.self, Date.self, String.self, Date?.self, Bool.self).map {
            SigningKeyInfo(kid: $0, algorithm: $1, createdAt: $2, createdBy: $3, retiredAt: $4, published: $5)
        }
    }

    /// The public keys tokens may be signed with now: `/.well-known/jwks.json`.
    public func publishedKeys() async throws -> [JWK] {
        try await query("""
            SELECT public_jwk::text FROM signing_keys
            WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => \(EntitlementToken.maximumLifetime))
            ORDER BY created_at DESC, kid
            """).decode(String.self).map { try JSONDecoder().decode(JWK.self, from: Data($0.utf8)) }
    }
}

extension PostgresConnection {
    /// A new ES256 key; with `replacing`, the signing one retires (else, when one signs, nothing changes).
    func insertSigningKey(by author: String, replacing: Bool) async throws -> String {
        let key = P256.Signing.PrivateKey()
        let kid = "pdx-" + MarketStore.randomHex(8)
        let jwk = JWK(kid: kid, publicKey: key.publicKey)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if replacing { try await execute("UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL") }
        try await execute("""
            INSERT INTO signing_keys (kid, algorithm, private_key, public_jwk, created_by)
            VALUES (\(kid), 'ES256', \(key.rawRepresentation), \(String(decoding: try encoder.encode(jwk), as: UTF8.self))::jsonb, \(author))
            ON CONFLICT DO NOTHING
            """)
        return kid
    }
}
