public import Foundation
import JobQueue
import Market
import Postgres
import MarketJobs

extension MarketStore {
    /// What an expiry job found.
    public enum Expiry: Sendable, Equatable {
        /// Expired now (for a demand: with the proposals it held withdrawn).
        case expired(withdrawn: Int)
        /// Not due yet (the date moved): try again then.
        case notDue(until: Date)
        /// Already in a final state, or no longer one that expires.
        case nothingToDo
    }

    /// Expires an open or matched demand whose `expires_at` has passed, withdrawing its live proposals,
    /// in one transaction.
    public func expireDemand(_ id: UUID, by actor: Actor = .system) async throws -> Expiry {
        try await transaction { connection in
            let rows = try await connection.query("SELECT state::text, expires_at, now() FROM demands WHERE id = \(id) FOR UPDATE")
            guard let row = rows.first else { throw MarketNotFound("demand", id) }
            let (stateText, expiresAt, now) = try row.decode(String.self, Date.self, Date.self)
            let state = try Rows.known(stateText, DemandState.self, "demands.state")
            guard state.canMove(to: .expired) else { return .nothingToDo }
            guard expiresAt <= now else { return .notDue(until: expiresAt) }
            let withdrawn = try await connection.moveDemand(id, from: state, to: .expired, actor: actor, reason: "reached its expiry")
            return .expired(withdrawn: withdrawn.count)
        }
    }

    /// Expires an active or suspended authorization whose term has ended: its products are delisted and
    /// their proposals withdrawn (see `changeAuthorization`).
    public func expireAuthorization(_ id: UUID, by actor: Actor = .system) async throws -> Expiry {
        let rows = try await query("SELECT state::text, upper(validity), now() FROM authorizations WHERE id = \(id)")
        guard let row = rows.first else { throw MarketNotFound("authorization", id) }
        let (stateText, until, now) = try row.decode(String.self, Date.self, Date.self)
        guard try Rows.known(stateText, AuthorizationState.self, "authorizations.state").canMove(to: .expired) else { return .nothingToDo }
        guard until <= now else { return .notDue(until: until) }
        do {
            let change = try await changeAuthorization(id, to: .expired, reason: "term ended", by: actor)
            return .expired(withdrawn: change.withdrawnMatches.count)
        } catch is TransitionRefused {
            return .nothingToDo  // revoked or expired meanwhile
        }
    }
}

extension PostgresConnection {
    /// Schedules the demand's expiry (one pending job per demand).
    func scheduleExpiry(ofDemand id: UUID, at expiresAt: Date) async throws {
        try await enqueue(expiryJob(ofDemand: id, at: expiresAt))
    }
}

func expiryJob(ofDemand id: UUID, at expiresAt: Date) throws -> NewJob {
    try NewJob(ExpireDemandJob(demandID: id), runAt: expiresAt, uniqueKey: "expire_demand:\(id.uuidString.lowercased())")
}
