public import Foundation
import JobQueue
import Market
public import Postgres

/// The marketplace's SQL. Every mutation runs in one transaction that also writes its audit event and
/// enqueues the job that reacts to it; every state change is guarded (`WHERE state = expected`), so of
/// two concurrent changes only one wins and the other gets `TransitionRefused`.
///
/// Errors a caller may see: `MarketInputError` (bad input, naming the field), `PolicyViolation` (a rule
/// of DOMAIN.md, naming it), `TransitionRefused` (a state conflict), `MarketNotFound`.
public struct MarketStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Runs `body` in a transaction, turning what the database refuses into the market's errors.
    func transaction<R: Sendable>(_ body: @Sendable (isolated PostgresConnection) async throws -> R) async throws -> R {
        do {
            return try await pool.withTransaction(body)
        } catch let error as PostgresError {
            throw Self.translate(error)
        }
    }

    /// Maps constraint violations to errors that name the field or the rule; anything else stays as is.
    static func translate(_ error: PostgresError) -> any Error {
        let constraint = error.constraint ?? ""
        switch (error.code?.rawValue, constraint) {
        case ("23P01", "authorization_scopes_single_operator"):
            return PolicyViolation(.singleOperator, "a single-operator authorization already covers this sector and region for part of this term")
        case ("23505", "parties_credit_code_unique"):
            return MarketInputError(field: "credit_code", rule: "is already registered")
        case ("23514", let name) where name.hasPrefix("parties_credit_code"):
            return MarketInputError(field: "credit_code", rule: "must be a valid unified social credit code (GB 32100-2015)")
        case ("P0001", "grading_core"):
            return PolicyViolation(.coreData, error.message)
        case ("P0001", "grading_important"):
            return PolicyViolation(.importantData, error.message)
        case ("P0001", "grading_personal_info"):
            return PolicyViolation(.personalInformation, error.message)
        case ("P0001", "product_versions_frozen"):
            return TransitionRefused(subject: "product version", from: "listed", to: "edited", allowed: [])
        case ("23503", _):
            return MarketInputError(field: Self.field(ofForeignKey: constraint), rule: "must name an existing record of the right kind")
        default:
            return error
        }
    }

    /// The column a foreign key names: PostgreSQL calls them `<table>_<column>[_<column>]_fkey`.
    private static func field(ofForeignKey constraint: String) -> String {
        for name in ["agency_id", "operator_id", "authorization_id", "demander_id", "buyer_id", "resource_id", "sector", "product_id"]
        where constraint.contains("_\(name)_") {
            return name
        }
        return constraint
    }
}

/// Who did something, as the audit trail records it.
public struct Actor: Sendable, Hashable, CustomStringConvertible {
    public let description: String

    public static func party(_ id: UUID) -> Actor { Actor(description: "party:\(id.uuidString.lowercased())") }
    public static func administrator(_ name: String) -> Actor { Actor(description: "admin:\(name)") }
    public static let system = Actor(description: "system")
}

/// An object that does not exist, or that the caller may not see.
public struct MarketNotFound: Error, Equatable, Sendable, CustomStringConvertible {
    public var subject: String
    public var id: String

    public init(_ subject: String, _ id: UUID) {
        self.subject = subject
        self.id = id.uuidString.lowercased()
    }

    public var description: String { "no \(subject) \(id)" }
}

extension PostgresConnection {
    /// Appends an audit event in the current transaction.
    func audit(_ actor: Actor, _ action: String, _ subjectType: String, _ subjectID: UUID, reason: String? = nil,
               before: String? = nil, after: String? = nil) async throws {
        try await audit(actor, action, subjectType, subjectID.uuidString.lowercased(), reason: reason, before: before, after: after)
    }

    func audit(_ actor: Actor, _ action: String, _ subjectType: String, _ subjectID: Int64, reason: String? = nil,
               before: String? = nil, after: String? = nil) async throws {
        try await audit(actor, action, subjectType, String(subjectID), reason: reason, before: before, after: after)
    }

    func audit(_ actor: Actor, _ action: String, _ subjectType: String, _ subjectID: String, reason: String? = nil,
               before: String? = nil, after: String? = nil) async throws {
        try await execute("""
            INSERT INTO audit_events (actor, action, subject_type, subject_id, reason, before, after)
            VALUES (\(actor.description), \(action), \(subjectType), \(subjectID), \(reason), \(before)::jsonb, \(after)::jsonb)
            """)
    }
}

/// `{"state": "..."}`, for audit events of state changes.
func stateJSON(_ state: String) -> String { #"{"state":"\#(state)"}"# }
