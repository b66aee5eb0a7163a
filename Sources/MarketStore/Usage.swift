public import Foundation
import Market
public import Postgres

/// One usage event an operator reports: `units` of an entitlement's charge unit used at `occurredAt`.
/// `eventID` is the operator's own: the same id is counted once, however often it is sent.
public struct UsageEvent: Sendable, Equatable {
    public var eventID: String
    public var entitlementID: UUID
    public var units: Int64
    public var occurredAt: Date

    public init(eventID: String, entitlementID: UUID, units: Int64, occurredAt: Date) {
        self.eventID = eventID
        self.entitlementID = entitlementID
        self.units = units
        self.occurredAt = occurredAt
    }
}

/// Why one event of a batch was not counted (the batch goes on without it).
public enum UsageRefusal: String, Sendable, Codable, CaseIterable {
    /// No such entitlement among those the reporting seller serves.
    case unknownEntitlement = "unknown_entitlement"
    /// The entitlement is not metered (items and hours are billed whole at delivery).
    case unmetered
    /// Before the entitlement started.
    case beforeEntitlement = "before_entitlement"
    /// At or after the entitlement ended (its end date, revocation or expiry).
    case entitlementEnded = "entitlement_ended"
    /// While the entitlement was suspended.
    case entitlementSuspended = "entitlement_suspended"
    /// In a month already billed (closed, or being closed).
    case periodClosed = "period_closed"
    /// More than five minutes ahead of the database's clock.
    case inFuture = "in_future"
    /// More units than the entitlement has left.
    case overGrant = "over_grant"
}

/// What a usage batch did.
public struct UsageReceipt: Sendable, Equatable {
    public struct Refused: Sendable, Equatable {
        public var index: Int
        public var eventID: String
        public var reason: UsageRefusal
    }

    public struct Standing: Sendable, Equatable {
        public var entitlementID: UUID
        public var unitsUsed: Int64
        public var unitsLeft: Int64?
    }

    /// Events counted now.
    public var accepted: Int
    /// Events counted before (by an earlier batch, another replica, or earlier in this one): not again.
    public var duplicates: Int
    public var refused: [Refused]
    /// Per entitlement named by a counted or duplicate event: its units used and left after the batch.
    public var entitlements: [Standing]
}

extension MarketStore {
    /// The most events in one batch.
    public static let usageBatchLimit = 10_000
    /// How far ahead of the database's clock an event may be (clocks differ).
    public static let usageClockSkew: TimeInterval = 300
    /// The advisory lock closing a month takes exclusively and usage batches take shared.
    static let billingLock: Int64 = 0x7064_7862_696c_6c

    /// Counts a seller's usage events, each at most once across every API replica: an event id already
    /// stored is a duplicate (its units not added again). Events the seller cannot bill are refused one by
    /// one with a reason. Entitlements are locked in id order while counted, so concurrent batches for the
    /// same entitlement never grant more than its units.
    public func recordUsage(_ events: [UsageEvent], seller: UUID) async throws -> UsageReceipt {
        guard (1...Self.usageBatchLimit).contains(events.count) else {
            throw MarketInputError(field: "events", rule: "must hold from 1 to \(Self.usageBatchLimit) events")
        }
        for (index, event) in events.enumerated() {
            guard (1...128).contains(event.eventID.utf8.count) else {
                throw MarketInputError(field: "events[\(index)].event_id", rule: "must be from 1 to 128 bytes")
            }
            guard (1...Money.maximumQuantity).contains(event.units) else {
                throw MarketInputError(field: "events[\(index)].units", rule: "must be from 1 to \(Money.maximumQuantity)")
            }
        }
        let entitlementIDs = Array(Set(events.map(\.entitlementID))).sorted { $0.uuidString < $1.uuidString }
        let eventIDs = events.map(\.eventID)
        return try await transaction { connection in
            // The lock first, in a statement of its own: the months closed are read after it is held, with a snapshot taken
            // then (a close that began meanwhile has committed its month by the time the lock is granted).
            _ = try await connection.query("SELECT pg_advisory_xact_lock_shared(\(Self.billingLock))")
            let (openFrom, now) = try await connection.query("""
                SELECT (SELECT coalesce(max(period) + interval '1 month', '-infinity') FROM billing_periods)::timestamptz, now()
                """).decode(Date.self, Date.self).first ?? (.distantPast, Date())
            struct Held { var state: Entitlement.State; var changedAt: Date; var startsAt: Date; var endsAt: Date; var granted: Int64?; var used: Int64 }
            var held: [UUID: Held] = [:]
            for (id, state, changed, starts, ends, granted, used) in try await connection.query("""
                SELECT id, state::text, state_changed_at, starts_at, ends_at, units_granted, units_used FROM entitlements
                WHERE id = ANY(\(entitlementIDs)) AND seller_id = \(seller) ORDER BY id FOR NO KEY UPDATE
                """).decode(UUID.self, String.self, Date.self, Date.self, Date.self, Int64?.self, Int64.self) {
                held[id] = Held(state: try Rows.known(state, Entitlement.State.self, "entitlements.state"), changedAt: changed, startsAt: starts,
                                endsAt: ends, granted: granted, used: used)
            }
            var seen = Set(try await connection.query("""
                SELECT event_id FROM usage_events WHERE seller_id = \(seller) AND event_id = ANY(\(eventIDs))
                """).decode(String.self))
            var refused: [UsageReceipt.Refused] = [], duplicates = 0, touched = Set<UUID>()
            var accepted: [UsageEvent] = [], pending: [UUID: Int64] = [:]
            for (index, event) in events.enumerated() {
                func refuse(_ reason: UsageRefusal) { refused.append(.init(index: index, eventID: event.eventID, reason: reason)) }
                guard let entitlement = held[event.entitlementID] else { refuse(.unknownEntitlement); continue }
                if seen.contains(event.eventID) { duplicates += 1; touched.insert(event.entitlementID); continue }
                guard let granted = entitlement.granted else { refuse(.unmetered); continue }
                if event.occurredAt > now + Self.usageClockSkew { refuse(.inFuture); continue }
                if event.occurredAt < openFrom { refuse(.periodClosed); continue }
                // Gateways' clocks write whole seconds: the second delivery happened in counts.
                if event.occurredAt < entitlement.startsAt.wholeSecond { refuse(.beforeEntitlement); continue }
                if event.occurredAt >= entitlement.endsAt { refuse(.entitlementEnded); continue }
                if entitlement.state != .active, event.occurredAt >= entitlement.changedAt {
                    refuse(entitlement.state == .suspended ? .entitlementSuspended : .entitlementEnded); continue
                }
                let counted = pending[event.entitlementID, default: 0]
                guard event.units <= granted - entitlement.used - counted else { refuse(.overGrant); continue }
                pending[event.entitlementID] = counted + event.units
                seen.insert(event.eventID)
                touched.insert(event.entitlementID)
                accepted.append(event)
            }
            var added: [UUID: Int64] = [:], counted = 0
            if !accepted.isEmpty {
                // A concurrent batch may have stored some of these meanwhile: only what this statement inserts counts.
                let inserted = try await connection.query("""
                    WITH inserted AS (
                        INSERT INTO usage_events (seller_id, event_id, entitlement_id, units, occurred_at)
                        SELECT \(seller), i.event_id, i.entitlement_id, i.units, i.occurred_at
                        FROM unnest(\(accepted.map(\.eventID)), \(accepted.map(\.entitlementID)), \(accepted.map(\.units)), \(accepted.map(\.occurredAt)))
                            AS i(event_id, entitlement_id, units, occurred_at)
                        ON CONFLICT DO NOTHING
                        RETURNING entitlement_id, units, occurred_at
                    ), daily AS (
                        INSERT INTO usage_daily (entitlement_id, day, units)
                        SELECT entitlement_id, (occurred_at AT TIME ZONE 'UTC')::date, sum(units) FROM inserted GROUP BY 1, 2
                        ON CONFLICT (entitlement_id, day) DO UPDATE SET units = usage_daily.units + EXCLUDED.units
                    ), totals AS (
                        SELECT entitlement_id, sum(units)::int8 AS units, count(*)::int8 AS events FROM inserted GROUP BY 1
                    ), counted AS (
                        UPDATE entitlements e SET units_used = e.units_used + t.units FROM totals t WHERE e.id = t.entitlement_id
                    )
                    SELECT entitlement_id, units, events FROM totals
                    """).decode(UUID.self, Int64.self, Int64.self)
                for (id, units, events) in inserted {
                    added[id] = units
                    counted += Int(events)
                }
                duplicates += accepted.count - counted
            }
            let standings = touched.sorted { $0.uuidString < $1.uuidString }.compactMap { id -> UsageReceipt.Standing? in
                guard let entitlement = held[id] else { return nil }
                let used = entitlement.used + added[id, default: 0]
                return .init(entitlementID: id, unitsUsed: used, unitsLeft: entitlement.granted.map { $0 - used })
            }
            return UsageReceipt(accepted: counted, duplicates: duplicates, refused: refused, entitlements: standings)
        }
    }

    /// An entitlement's usage per UTC day from `from` to `to` (inclusive), for its buyer or seller.
    public func dailyUsage(of entitlementID: UUID, for party: UUID, from: CalendarDate, to: CalendarDate) async throws -> [(day: CalendarDate, units: Int64)] {
        guard from <= to else { throw MarketInputError(field: "from", rule: "must not be after to") }
        guard to.daysSince2000 - from.daysSince2000 <= 366 else { throw MarketInputError(field: "to", rule: "must be at most 366 days after from") }
        _ = try await entitlement(entitlementID, for: party)
        return try await query("""
            SELECT day, units FROM usage_daily WHERE entitlement_id = \(entitlementID) AND day BETWEEN \(from) AND \(to) ORDER BY day
            """).decode(CalendarDate.self, Int64.self).map { (day: $0, units: $1) }
    }
}

extension Date {
    /// This instant without its fraction of a second.
    var wholeSecond: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
