public import Foundation
import JobQueue
public import Market
import Postgres
import MarketJobs

extension MarketStore {
    /// Posts a demand request as a draft, or open at once (which enqueues its `match_demand` job and
    /// schedules its `expire_demand` job).
    /// With `showIdentity`, suppliers see on the demand board who posted it.
    public func postDemand(_ demand: DemandRequest, demander demanderID: UUID, open: Bool, showIdentity: Bool = false,
                           by actor: Actor) async throws -> UUID {
        let id = UUID()
        try await transaction { connection in
            let row = try await connection.query("SELECT now(), (SELECT kind::text FROM parties WHERE id = \(demanderID))").first
            let (now, kind) = try row?.decode(Date.self, String?.self) ?? (Date(), nil)
            try demand.validate(now: now)
            guard let kind, kind != PartyKind.agency.rawValue else {
                throw MarketInputError(field: "demander_id", rule: "must name a registered demander or operator")
            }
            let state: DemandState = open ? .open : .draft
            // The demand and its audit event in one statement, which also answers who follows what it is, if it opens.
            let followers = try await connection.query("""
                WITH posted AS (
                    INSERT INTO demands (id, demander_id, title, description, sector, scenario, purpose, regions, fields_wanted, tags,
                                         quantity, budget_fen, delivery_modes, expires_at, state, show_identity)
                    VALUES (\(id), \(demanderID), \(demand.title), \(demand.description), \(demand.sector), \(demand.scenario),
                            \(demand.purpose.rawValue)::pdx_purpose, \(demand.regions.map(\.value)), \(demand.fieldsWanted), \(demand.tags),
                            \(demand.quantity), \(demand.budgetFen), \(demand.deliveryModes.map(\.rawValue))::pdx_delivery_mode[],
                            \(demand.expiresAt), \(state.rawValue)::pdx_demand_state, \(showIdentity))
                    RETURNING id, demander_id, sector, regions, scenario, purpose, state
                ), audited AS (
                    INSERT INTO audit_events (actor, action, subject_type, subject_id, after)
                    SELECT \(actor.description), 'demand.post', 'demand', id::text, \(stateJSON(state.rawValue))::jsonb FROM posted
                )
                SELECT pdx_demand_followers(demander_id, sector, regions, scenario, purpose) FROM posted WHERE state = 'open'
                """).decode(UUID.self)
            if open {
                // Its match job and its expiry, in one statement; the followers hear of it. The matching workers
                // are woken once the transaction has committed (a NOTIFY inside it would serialize posting).
                let afterCommit = MarketStore.afterCommit
                _ = try await connection.enqueue([NewJob(MatchDemandJob(demandID: id), queue: matchQueue), expiryJob(ofDemand: id, at: demand.expiresAt)],
                                                 wake: afterCommit == nil)
                afterCommit?.wake(matchQueue)
                try await connection.enqueueNotifications(.demandOpened(demandID: id), to: followers)
            }
        }
        return id
    }

    /// Replaces the content of a draft demand (an open one is cancelled and posted anew instead).
    public func updateDraftDemand(_ id: UUID, with demand: DemandRequest, showIdentity: Bool = false, by actor: Actor) async throws {
        try await transaction { connection in
            let now = try await connection.query("SELECT now()").scalar(Date.self) ?? Date()
            try demand.validate(now: now)
            let updated = try await connection.execute("""
                UPDATE demands SET title = \(demand.title), description = \(demand.description), sector = \(demand.sector),
                    scenario = \(demand.scenario), purpose = \(demand.purpose.rawValue)::pdx_purpose, regions = \(demand.regions.map(\.value)),
                    fields_wanted = \(demand.fieldsWanted), tags = \(demand.tags), quantity = \(demand.quantity),
                    budget_fen = \(demand.budgetFen), delivery_modes = \(demand.deliveryModes.map(\.rawValue))::pdx_delivery_mode[],
                    expires_at = \(demand.expiresAt), show_identity = \(showIdentity), updated_at = now()
                WHERE id = \(id) AND state = 'draft'
                """)
            guard updated == 1 else {
                let state = try await connection.demandState(id)
                throw TransitionRefused(subject: "demand", from: state.rawValue, to: "edited", allowed: [])
            }
            try await connection.audit(actor, "demand.update_draft", "demand", id)
        }
    }

    /// A demander's move of its demand: open a draft, or cancel it before it is ordered (guarded: of
    /// two concurrent moves only one wins). Opening enqueues its `match_demand` job and schedules its
    /// expiry in the same transaction; cancelling withdraws its proposals in the same transaction (a
    /// proposal being written meanwhile is waited for, then withdrawn). Any other move is refused: the
    /// market makes those itself.
    public func changeDemand(_ id: UUID, to next: DemandState, by actor: Actor, reason: String? = nil) async throws {
        if let reason { try validateText(reason, field: "reason", maxLength: 2000, required: false) }
        try await transaction { connection in
            // Locked first: a proposal being written (which locks the demand too) finishes, and its move to
            // matched is seen, before this decides.
            let current = try await connection.demandState(id, lock: true)
            _ = try current.movingByDemander(to: next)
            try await connection.moveDemand(id, from: current, to: next, actor: actor, reason: reason)
            if next == .open {
                try await connection.enqueue(NewJob(MatchDemandJob(demandID: id), queue: matchQueue))
                if current == .draft { try await connection.enqueueNotifications([.demandOpened(demandID: id)]) }
                if let expiresAt = try await connection.query("SELECT expires_at FROM demands WHERE id = \(id)").scalar(Date.self) {
                    try await connection.scheduleExpiry(ofDemand: id, at: expiresAt)
                }
            }
        }
    }

    public func demandState(_ id: UUID) async throws -> DemandState {
        try await read { connection in try await connection.demandState(id) }
    }
}

extension PostgresConnection {
    func demandState(_ id: UUID, lock: Bool = false) async throws -> DemandState {
        guard let state = try await query("""
            SELECT state::text FROM demands WHERE id = \(id) \(unsafeRaw: lock ? "FOR NO KEY UPDATE" : "")
            """).scalar(String.self) else {
            throw MarketNotFound("demand", id)
        }
        return try Rows.known(state, DemandState.self, "demands.state")
    }

    /// Moves a demand (guarded by its current state); a demand that ends (fulfilled, expired, cancelled)
    /// has its live proposals withdrawn in the same transaction. Returns the proposals withdrawn.
    @discardableResult
    func moveDemand(_ id: UUID, from current: DemandState, to next: DemandState, actor: Actor, reason: String?) async throws -> [UUID] {
        let moved = try await execute("""
            UPDATE demands SET state = \(next.rawValue)::pdx_demand_state, state_changed_at = clock_timestamp(), updated_at = now()
            WHERE id = \(id) AND state = \(current.rawValue)::pdx_demand_state
            """)
        guard moved == 1 else {
            let now = try await demandState(id)
            throw TransitionRefused(subject: "demand", from: now.rawValue, to: next.rawValue, allowed: now.successors.map(\.rawValue).sorted())
        }
        try await audit(actor, "demand.\(next.rawValue)", "demand", id, reason: reason,
                        before: stateJSON(current.rawValue), after: stateJSON(next.rawValue))
        guard next.isFinal else { return [] }
        // The demand's row lock, taken above, makes a proposal being written meanwhile finish first (it
        // locks the demand too), so this sees it.
        let why = "demand \(next.rawValue)"
        let withdrawn = try await query("""
            UPDATE matches SET state = 'withdrawn', state_reason = \(why), state_changed_at = now()
            WHERE demand_id = \(id) AND state = 'proposed' RETURNING id
            """).decode(UUID.self)
        for match in withdrawn {
            try await audit(actor, "match.withdraw", "match", match, reason: why, after: stateJSON("withdrawn"))
        }
        return withdrawn
    }
}

/// A demand as stored.
public struct StoredDemand: Sendable, Equatable {
    public var id: UUID
    public var demanderID: UUID
    public var request: DemandRequest
    public var state: DemandState
    /// Whether suppliers see its demander on the demand board.
    public var showIdentity: Bool

    public init(id: UUID, demanderID: UUID, request: DemandRequest, state: DemandState, showIdentity: Bool = false) {
        self.id = id
        self.demanderID = demanderID
        self.request = request
        self.state = state
        self.showIdentity = showIdentity
    }
}

extension MarketStore {
    public func demand(_ id: UUID) async throws -> StoredDemand {
        try await read { connection in
            let subject = try await connection.matchingSubject(id)
            let shown = try await connection.query("SELECT show_identity FROM demands WHERE id = \(id)").scalar(Bool.self) ?? false
            return StoredDemand(id: id, demanderID: subject.buyer.id, request: subject.demand, state: subject.state, showIdentity: shown)
        }
    }

    /// A demander's demands in id order, `limit` at a time after `cursor` (the last id seen): stable while
    /// others are posted.
    public func demands(of demanderID: UUID, after cursor: UUID? = nil, limit: Int = 50) async throws -> [StoredDemand] {
        guard (1...200).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 200") }
        // One query for the page.
        return try await query("""
            SELECT \(unsafeRaw: PostgresConnection.subjectColumns), now(), d.show_identity
            FROM demands d JOIN parties b ON b.id = d.demander_id
            WHERE d.demander_id = \(demanderID) AND (\(cursor)::uuid IS NULL OR d.id > \(cursor))
            ORDER BY d.id LIMIT \(Int32(limit))
            """).map { row in
            let subject = try PostgresConnection.subject(row, now: try row.decode(Date.self, at: PostgresConnection.subjectColumnCount))
            return StoredDemand(id: subject.demandID, demanderID: subject.buyer.id, request: subject.demand, state: subject.state,
                                showIdentity: try row.decode(Bool.self, at: PostgresConnection.subjectColumnCount + 1))
        }
    }
}
