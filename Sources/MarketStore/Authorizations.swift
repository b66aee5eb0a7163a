public import Foundation
public import Market
import JobQueue
import Postgres
import MarketJobs

extension MarketStore {
    /// Grants an authorization. Under single-operator mode, a grant overlapping another live grant of
    /// the same sector and region (of any mode) fails with `PolicyViolation(.singleOperator)`, decided by
    /// the database's exclusion constraint, so two agencies granting at the same moment cannot both win.
    public func grant(_ authorization: Authorization, by actor: Actor) async throws -> Authorization {
        try authorization.validate()
        var granted = authorization
        granted.state = .active
        return try await transaction { [granted] connection in
            try await connection.execute("""
                INSERT INTO authorizations (id, agency_id, operator_id, sectors, regions, scenarios, mode, validity, agency_share_permille)
                VALUES (\(granted.id), \(granted.agencyID), \(granted.operatorID), \(granted.sectors), \(granted.regions.map(\.value)),
                        \(granted.scenarios), \(granted.mode.rawValue)::pdx_authorization_mode,
                        tstzrange(\(granted.validFrom), \(granted.validUntil), '[)'), \(Int32(granted.agencySharePermille)))
                """)
            try await connection.execute("""
                INSERT INTO authorization_state_changes (authorization_id, to_state, actor)
                VALUES (\(granted.id), 'active', \(actor.description))
                """)
            try await connection.audit(actor, "authorization.grant", "authorization", granted.id,
                                       after: #"{"mode":"\#(granted.mode.rawValue)","operator":"\#(granted.operatorID.uuidString.lowercased())"}"#)
            try await connection.enqueue(NewJob(ExpireAuthorizationJob(authorizationID: granted.id), runAt: granted.validUntil,
                                                uniqueKey: "expire_authorization:\(granted.id.uuidString.lowercased())"))
            return granted
        }
    }

    public func authorization(_ id: UUID) async throws -> Authorization {
        try await read { connection in
            guard let found = try await connection.authorization(id, lock: false) else { throw MarketNotFound("authorization", id) }
            return found
        }
    }

    /// The authorizations a party granted (an agency) or holds (an operator), in id order after `cursor`.
    public func authorizations(of partyID: UUID, after cursor: UUID? = nil, limit: Int = 50) async throws -> [Authorization] {
        guard (1...200).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 200") }
        return try await query("""
            SELECT id, \(unsafeRaw: PostgresConnection.authorizationColumns) FROM authorizations
            WHERE (agency_id = \(partyID) OR operator_id = \(partyID)) AND (\(cursor)::uuid IS NULL OR id > \(cursor))
            ORDER BY id LIMIT \(Int32(limit))
            """).map { row in try PostgresConnection.authorization(row, id: try row.decode(UUID.self, at: 0), from: 1) }
    }

    /// What a change of an authorization's state did besides the change itself.
    public struct AuthorizationChange: Sendable, Equatable {
        public var delistedProducts: [UUID]
        public var withdrawnMatches: [UUID]
    }

    /// Suspends, reinstates (`.active`), revokes or expires an authorization. Suspension and revocation
    /// need a reason. Revocation and expiry delist every product built on it and withdraw their
    /// proposed matches, in the same transaction.
    @discardableResult
    public func changeAuthorization(_ id: UUID, to next: AuthorizationState, reason: String?, by actor: Actor) async throws -> AuthorizationChange {
        if next.needsReason {
            guard let reason, !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw MarketInputError(field: "reason", rule: "is required to make an authorization \(next.rawValue)")
            }
        }
        if let reason { try validateText(reason, field: "reason", maxLength: 2000, required: false) }
        return try await transaction { connection in
            guard let current = try await connection.authorization(id, lock: true) else { throw MarketNotFound("authorization", id) }
            _ = try current.state.moving(to: next)
            try await connection.execute("""
                UPDATE authorizations SET state = \(next.rawValue)::pdx_authorization_state, state_changed_at = now(), state_reason = \(reason)
                WHERE id = \(id) AND state = \(current.state.rawValue)::pdx_authorization_state
                """)
            try await connection.execute("""
                INSERT INTO authorization_state_changes (authorization_id, from_state, to_state, reason, actor)
                VALUES (\(id), \(current.state.rawValue)::pdx_authorization_state, \(next.rawValue)::pdx_authorization_state,
                        \(reason), \(actor.description))
                """)
            try await connection.audit(actor, "authorization.\(next == .active ? "reinstate" : next.rawValue)", "authorization", id,
                                       reason: reason, before: stateJSON(current.state.rawValue), after: stateJSON(next.rawValue))
            let why = "authorization \(next.rawValue)" + (reason.map { ": \($0)" } ?? "")
            // The products resting on it: under it, and derived from those, generation after generation.
            let listed = try await connection.query("""
                SELECT p.id, p.version FROM pdx_built_on(\(id)) AS b JOIN products p ON p.id = b WHERE p.state = 'listed' ORDER BY p.id
                """).decode(UUID.self, Int32.self)
            switch next {
            case .suspended:
                // Its products leave the catalogue (a trigger) and cannot be bought meanwhile: their proposals end.
                let withdrawn = try await connection.withdrawMatches(ofProducts: listed.map(\.0), reason: why, actor: actor)
                return AuthorizationChange(delistedProducts: [], withdrawnMatches: withdrawn)
            case .active:
                // Back in the catalogue: offered to the open demands again.
                try await connection.enqueue(try listed.map { product, version in
                    try NewJob(MatchProductJob(productID: product, version: Int(version)), queue: matchQueue)
                })
                return AuthorizationChange(delistedProducts: [], withdrawnMatches: [])
            case .revoked, .expired:
                break
            }
            let delisted = try await connection.query("""
                UPDATE products SET state = 'delisted', state_changed_at = now(), pending_effective_at = NULL
                WHERE id IN (SELECT pdx_built_on(\(id))) AND state <> 'delisted'
                RETURNING id
                """).decode(UUID.self)
            for product in delisted {
                try await connection.audit(actor, "product.delist", "product", product, reason: why, after: stateJSON("delisted"))
            }
            let withdrawn = try await connection.withdrawMatches(ofProducts: delisted, reason: why, actor: actor)
            return AuthorizationChange(delistedProducts: delisted, withdrawnMatches: withdrawn)
        }
    }
}

extension PostgresConnection {
    /// Locks, in id order, the demands holding a live proposal of one of `products` (or of any product when
    /// nil): before their matches are changed, as every writer does, so that no two deadlock.
    func lockDemands(ofProposalsFor products: [UUID]?) async throws {
        _ = try await query("""
            SELECT 1 FROM demands
            WHERE id IN (SELECT demand_id FROM matches WHERE state = 'proposed' AND (\(products)::uuid[] IS NULL OR product_id = ANY(\(products))))
            ORDER BY id
            FOR NO KEY UPDATE
            """)
    }

    func authorization(_ id: UUID, lock: Bool) async throws -> Authorization? {
        let rows = try await query("""
            SELECT \(unsafeRaw: Self.authorizationColumns) FROM authorizations WHERE id = \(id) \(unsafeRaw: lock ? "FOR UPDATE" : "")
            """)
        return try rows.first.map { try Self.authorization($0, id: id, from: 0) }
    }

    static let authorizationColumns = """
        agency_id, operator_id, sectors, regions, scenarios, mode::text, lower(validity), upper(validity), state::text, state_changed_at, state_reason,
        agency_share_permille
        """

    static func authorization(_ row: PostgresRow, id: UUID, from start: Int) throws -> Authorization {
        let (agency, operatorID, sectors, regions, scenarios, mode, from, until, state) = try row.decode(
            UUID.self, UUID.self, [String].self, [String].self, [String].self, String.self, Date.self, Date.self, String.self, at: start)
        let (changedAt, reason, share) = try row.decode(Date.self, String?.self, Int32.self, at: start + 9)
        var authorization = Authorization(id: id, agencyID: agency, operatorID: operatorID, sectors: sectors,
                                          regions: try Rows.regionCodes(regions), scenarios: scenarios,
                                          mode: try Rows.known(mode, AuthorizationMode.self, "authorizations.mode"), validFrom: from, validUntil: until,
                                          state: try Rows.known(state, AuthorizationState.self, "authorizations.state"))
        authorization.stateChangedAt = changedAt
        authorization.stateReason = reason
        authorization.agencySharePermille = Int(share)
        return authorization
    }

    /// Withdraws the proposed matches of products, recording why.
    func withdrawMatches(ofProducts products: [UUID], reason: String, actor: Actor) async throws -> [UUID] {
        guard !products.isEmpty else { return [] }
        return try await withdrawProposals(
            try await query("SELECT id FROM matches WHERE product_id = ANY(\(products)) AND state = 'proposed'").decode(UUID.self),
            reason: reason, actor: actor)
    }

    /// Withdraws those of `matches` still proposed, recording why: their demands are locked first, in id
    /// order (the market's lock order: demands before matches), and matched demands left without a
    /// proposal are open again. Returns the matches withdrawn. Callers hold what stops new proposals of the
    /// same kind meanwhile (the product, the authorization or the party, locked by their change).
    func withdrawProposals(_ matches: [UUID], reason: String, actor: Actor) async throws -> [UUID] {
        guard !matches.isEmpty else { return [] }
        _ = try await query("""
            SELECT 1 FROM demands WHERE id IN (SELECT demand_id FROM matches WHERE id = ANY(\(matches))) ORDER BY id FOR NO KEY UPDATE
            """)
        let withdrawn = try await query("""
            UPDATE matches SET state = 'withdrawn', state_reason = \(reason), state_changed_at = now()
            WHERE id = ANY(\(matches)) AND state = 'proposed'
            RETURNING id, demand_id
            """).decode(UUID.self, UUID.self)
        for (match, _) in withdrawn {
            try await audit(actor, "match.withdraw", "match", match, reason: reason, after: stateJSON("withdrawn"))
        }
        try await reopenDemandsWithoutProposals(withdrawn.map(\.1))
        return withdrawn.map(\.0)
    }
}
