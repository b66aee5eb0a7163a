public import Foundation
public import JobQueue
import Market
public import Postgres
import Synchronization

/// The marketplace's SQL. Every mutation runs in one transaction that also writes its audit event and
/// enqueues the job that reacts to it; every state change is guarded (`WHERE state = expected`), so of
/// two concurrent changes only one wins and the other gets `TransitionRefused`.
///
/// Errors a caller may see: `MarketInputError` (bad input, naming the field), `PolicyViolation` (a rule
/// of DOMAIN.md, naming it), `TransitionRefused` (a state conflict), `MarketNotFound`.
public struct MarketStore: Sendable {
    public let pool: PostgresPool
    /// Wakes workers after commits (see `afterCommit`).
    public let wakeUps: JobWakeUps

    /// How long a request waits for another one with the same idempotency key to finish before it is answered
    /// `IdempotencyKeyInUse` (409).
    public var idempotencyWait = MarketStore.defaultIdempotencyWait

    public init(pool: PostgresPool) {
        self.pool = pool
        self.wakeUps = JobWakeUps(pool: pool)
    }

    /// What the transaction under way (the store's own, or the request's) does once it has committed: the
    /// queues whose workers to wake. Writers on hot paths enqueue without notifying inside the transaction
    /// (a `NOTIFY` serializes commits, see `JobWakeUps`) and add their queues here.
    final class AfterCommit: Sendable {
        private let queues = Mutex(Set<String>())
        func wake(_ queue: String) { queues.withLock { _ = $0.insert(queue) } }
        var woken: Set<String> { queues.withLock { $0 } }
    }

    @TaskLocal static var afterCommit: AfterCommit?

    /// Runs `body` with a fresh `afterCommit`, then does what it asked for once `body` returned (committed).
    func committing<R: Sendable>(_ body: () async throws -> R) async throws -> R {
        let after = AfterCommit()
        let result = try await Self.$afterCommit.withValue(after) { try await body() }
        wakeUps.wake(after.woken)
        return result
    }

    /// The transaction of the request being served (`withRequestTransaction`), if any: every store call
    /// made while it runs joins it, so that a request's action, its reads, its audit events, its jobs and
    /// its idempotency record commit together or not at all.
    @TaskLocal static var requestTransaction: PostgresConnection?

    /// Runs `body` in a transaction (the request's, when one is open), turning what the database refuses
    /// into the market's errors. A transaction of its own is run again when it loses a deadlock or a
    /// serialization race (two writers locking the same rows in another order), so such a race costs a
    /// retry, never an error.
    func transaction<R: Sendable>(_ body: @Sendable (isolated PostgresConnection) async throws -> R) async throws -> R {
        do {
            if let connection = Self.requestTransaction { return try await body(connection) }
            return try await committing { try await pool.withRetryingTransaction(isolation: .readCommitted, body) }
        } catch let error as PostgresError {
            throw Self.translate(error)
        }
    }

    /// Runs `body` in one transaction: every store call it makes joins it, so they commit together or not
    /// at all (the whole is run again if it loses a deadlock). Inside a request's transaction, joins that.
    public func inOneTransaction<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        if Self.requestTransaction != nil { return try await body() }
        do {
            return try await committing {
                try await pool.withRetryingTransaction(isolation: .readCommitted) { connection in
                    try await Self.$requestTransaction.withValue(connection) { try await body() }
                }
            }
        } catch let error as PostgresError {
            throw Self.translate(error)
        }
    }

    /// Runs `body` on a connection: the request's transaction when one is open (so that a request reads
    /// what it wrote), else a pooled one.
    func read<R: Sendable>(_ body: @Sendable (isolated PostgresConnection) async throws -> R) async throws -> R {
        do {
            if let connection = Self.requestTransaction { return try await body(connection) }
            return try await pool.withConnection(body)
        } catch let error as PostgresError {
            throw Self.translate(error)
        }
    }

    /// The database's clock: what every check of a time against `now()` compares with.
    public func now() async throws -> Date {
        try await read { connection in try await connection.now() }
    }

    /// One statement (see `read`).
    func query(_ statement: PostgresQuery) async throws -> PostgresRows {
        try await read { connection in try await connection.query(statement) }
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
        case ("P0001", "orders_for_sale"):
            return TransitionRefused(subject: "product", from: "not for sale at this version", to: "ordered", allowed: [])
        case ("23514", "product_versions_list_price_bounded"):
            return MarketInputError(field: "list_price_fen", rule: "must be at most \(Money.maximumUnitPriceFen) fen")
        case ("23514", "demands_budget_bounded"):
            return MarketInputError(field: "budget_fen", rule: "must be at most \(Money.maximumAmountFen) fen")
        case ("23514", "orders_amount_bounded"), ("23514", "matches_quote_bounded"):
            return Pricing.tooLarge
        case ("23514", "parties_webhook_url_ok"):
            return MarketInputError(field: "url", rule: "must be an http or https URL of at most 2000 characters")
        case ("23514", "revenue_allowances_bounded"):
            return MarketInputError(field: "allowance_fen", rule: "must be at most \(Money.maximumAmountFen) fen")
        case ("P0001", "party_not_active"):
            return PartyNotActive(description: error.message)
        case ("P0001", "party_closed_final"):
            return TransitionRefused(subject: "party", from: "closed", to: "changed", allowed: [])
        case ("P0001", "derivation_source"), ("P0001", "redeveloper_required"):
            return PolicyViolation(.derivation, error.message)
        case ("P0001", "anti_monopoly"):
            return PolicyViolation(.antiMonopoly, error.message)
        case ("P0001", let name) where name.hasPrefix("unknown_value:"):
            return UnknownValue(field: String(name.dropFirst("unknown_value:".count)), rule: error.message)
        case ("23505", "applications_one_pending"):
            return DuplicateCreditCode(description: "an application with this unified social credit code is already under review")
        case ("23505", "party_affiliations_one_live"):
            return TransitionRefused(subject: "affiliation", from: "already recorded", to: "recorded", allowed: [])
        case ("23503", _):
            return MarketInputError(field: Self.field(ofForeignKey: constraint), rule: "must name an existing record of the right kind")
        default:
            return error
        }
    }

    /// The request field a foreign key checks: PostgreSQL names them `<table>_<column>[_<column>]_fkey`
    /// (an authorization's sectors are checked row by row, in `authorization_scopes`).
    private static func field(ofForeignKey constraint: String) -> String {
        if constraint == "authorization_scopes_sector_fkey" { return "sectors" }
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

/// A party that is suspended or closed took part in an action (the API answers 409 `party_not_active`).
public struct PartyNotActive: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
}

/// A sector or scenario the market does not know (the API answers 422 `unknown_value`); `rule` lists those it does.
public struct UnknownValue: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var rule: String
    public var description: String { "\(field) \(rule)" }
}

/// A unified social credit code already registered or under review (the API answers 409 `duplicate_credit_code`).
public struct DuplicateCreditCode: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
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

/// A time as the API and the audit trail write it (RFC 3339, UTC, whole seconds).
func iso8601(_ date: Date) -> String { date.formatted(.iso8601) }
