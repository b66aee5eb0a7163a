public import Foundation
public import Market
import Postgres

/// One day of a product's funnel (UTC days).
public struct FunnelDay: Sendable, Equatable {
    public var day: String
    /// Proposals made that day (by the workers or by hand).
    public var proposals: Int
    /// Proposals accepted, declined and withdrawn that day.
    public var accepted: Int
    public var declined: Int
    public var withdrawn: Int
    /// Orders placed that day, and the amount of those that are revenue now (accepted, delivered or completed).
    public var orders: Int
    public var revenueFen: Int64
}

/// A stay of a demand in one state.
public struct StateStay: Sendable, Equatable, Codable {
    public var state: DemandState
    public var enteredAt: Date
    /// Nil while it is still in this state.
    public var leftAt: Date?
    public var seconds: Double
}

/// A change of an authorization's state, with its reason.
public struct AuthorizationChangeRecord: Sendable, Equatable {
    public var from: AuthorizationState?
    public var to: AuthorizationState
    public var reason: String?
    public var actor: String
    public var at: Date
}

/// A version of a product as its history shows it.
public struct VersionRecord: Sendable, Equatable {
    public var version: Int
    public var title: String
    public var chargeUnit: ChargeUnit
    public var listPriceFen: Int64
    public var createdAt: Date
    /// When it went on sale (nil: a draft, or announced and not in effect yet).
    public var effectiveAt: Date?
    /// Announced to take effect at this time (a price rise waiting for its notice period).
    public var announcedFor: Date?
    public var current: Bool
}

extension MarketStore {
    /// The most days a funnel covers.
    public static let maximumInsightDays = 366

    /// A product's funnel per UTC day from `from` to `to` (both included, at most 366 days): every day,
    /// with zeros where nothing happened.
    public func insights(of productID: UUID, from: Date, to: Date) async throws -> [FunnelDay] {
        guard from <= to else { throw MarketInputError(field: "from", rule: "must not be after to") }
        guard to.timeIntervalSince(from) < Double(Self.maximumInsightDays) * 86_400 else {
            throw MarketInputError(field: "to", rule: "must be within \(Self.maximumInsightDays) days of from")
        }
        return try await query("""
            WITH days AS (
                SELECT d::date AS day FROM generate_series((\(from) AT TIME ZONE 'UTC')::date, (\(to) AT TIME ZONE 'UTC')::date, interval '1 day') AS d
            ), made AS (
                SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM matches
                WHERE product_id = \(productID) GROUP BY 1
            ), settled AS (
                SELECT (state_changed_at AT TIME ZONE 'UTC')::date AS day,
                       count(*) FILTER (WHERE state = 'accepted') AS accepted, count(*) FILTER (WHERE state = 'declined') AS declined,
                       count(*) FILTER (WHERE state = 'withdrawn') AS withdrawn
                FROM matches WHERE product_id = \(productID) AND state <> 'proposed' GROUP BY 1
            ), ordered AS (
                SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n,
                       coalesce(sum(amount_fen) FILTER (WHERE state IN ('accepted', 'delivered', 'completed')), 0) AS revenue
                FROM orders WHERE product_id = \(productID) GROUP BY 1
            )
            SELECT to_char(days.day, 'YYYY-MM-DD'), coalesce(made.n, 0), coalesce(settled.accepted, 0), coalesce(settled.declined, 0),
                   coalesce(settled.withdrawn, 0), coalesce(ordered.n, 0), least(coalesce(ordered.revenue, 0), 9223372036854775807)::int8
            FROM days LEFT JOIN made USING (day) LEFT JOIN settled USING (day) LEFT JOIN ordered USING (day)
            ORDER BY days.day
            """).map { row in
            let (day, made, accepted, declined, withdrawn, orders, revenue) = try row.decode(
                String.self, Int64.self, Int64.self, Int64.self, Int64.self, Int64.self, Int64.self)
            return FunnelDay(day: day, proposals: Int(made), accepted: Int(accepted), declined: Int(declined), withdrawn: Int(withdrawn),
                              orders: Int(orders), revenueFen: revenue)
        }
    }

    /// A demand's stays in each state, oldest first, with the time spent in each (the current one: so far).
    public func demandHistory(_ id: UUID) async throws -> [StateStay] {
        try await query("""
            SELECT state::text, entered_at, left_at, extract(epoch FROM coalesce(left_at, now()) - entered_at)::float8
            FROM demand_state_stays WHERE demand_id = \(id) ORDER BY id
            """).map { row in
            let (state, entered, left, seconds) = try row.decode(String.self, Date.self, Date?.self, Double.self)
            return StateStay(state: try Rows.known(state, DemandState.self, "demand_state_stays.state"), enteredAt: entered, leftAt: left,
                              seconds: max(0, seconds))
        }
    }

    /// An authorization's changes of state, oldest first, with their reasons.
    public func authorizationHistory(_ id: UUID) async throws -> [AuthorizationChangeRecord] {
        try await query("""
            SELECT from_state::text, to_state::text, reason, actor, at FROM authorization_state_changes
            WHERE authorization_id = \(id) ORDER BY id
            """).map { row in
            let (from, to, reason, actor, at) = try row.decode(String?.self, String.self, String?.self, String.self, Date.self)
            return AuthorizationChangeRecord(from: try from.map { try Rows.known($0, AuthorizationState.self, "authorization_state_changes.from_state") },
                                             to: try Rows.known(to, AuthorizationState.self, "authorization_state_changes.to_state"),
                                             reason: reason, actor: actor, at: at)
        }
    }

    /// A product's versions with their prices, oldest first; `published` keeps only those that went on
    /// sale or are announced (what buyers may see).
    public func productVersions(_ id: UUID, publishedOnly published: Bool) async throws -> [VersionRecord] {
        try await query("""
            SELECT v.version, v.title, v.charge_unit::text, v.list_price_fen, v.created_at,
                   CASE WHEN v.version = 1 THEN (SELECT min(e.at) FROM audit_events e
                                                 WHERE e.subject_type = 'product' AND e.subject_id = p.id::text AND e.action = 'product.list')
                        ELSE (SELECT min(e.at) FROM audit_events e
                              WHERE e.subject_type = 'product' AND e.subject_id = p.id::text AND e.action = 'product.revise'
                                AND (e.after ->> 'version')::int = v.version) END,
                   CASE WHEN v.version = p.version + 1 THEN p.pending_effective_at END,
                   v.version = p.version
            FROM products p JOIN product_versions v ON v.product_id = p.id
            WHERE p.id = \(id) AND (NOT \(published) OR v.frozen OR (v.version = p.version + 1 AND p.pending_effective_at IS NOT NULL))
            ORDER BY v.version
            """).map { row in
            let (version, title, unit, price, created, effective, announced, current) = try row.decode(
                Int32.self, String.self, String.self, Int64.self, Date.self, Date?.self, Date?.self, Bool.self)
            return VersionRecord(version: Int(version), title: title, chargeUnit: try Rows.known(unit, ChargeUnit.self, "product_versions.charge_unit"),
                                        listPriceFen: price, createdAt: created, effectiveAt: effective, announcedFor: announced, current: current)
        }
    }
}
