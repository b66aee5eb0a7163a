public import Foundation
import JobQueue
public import Market
import Postgres
public import MarketJobs

/// Something a party may want to hear about through its webhook.
public enum MarketEvent: Sendable, Hashable {
    /// A product was proposed to a demand (the demander hears).
    case newMatch(matchID: UUID, demandID: UUID)
    /// A demander accepted a proposal (the operator hears).
    case matchAccepted(matchID: UUID)
    /// An order was placed or changed state (the buyer and the operator hear).
    case order(orderID: UUID, state: OrderState)
    /// A demand was opened for the first time (the operators following a board query it meets hear).
    case demandOpened(demandID: UUID)
    /// A sandbox analysis finished (`sandbox_analysis.ready` or `sandbox_analysis.failed`; its buyer hears).
    case sandboxAnalysis(analysisID: UUID, type: String)

    /// The event's type on the wire: `match.proposed`, `match.accepted`, `order.placed`, `order.delivered`, ...
    public var type: String {
        switch self {
        case .newMatch: "match.proposed"
        case .matchAccepted: "match.accepted"
        case .order(_, let state): "order.\(state.rawValue)"
        case .demandOpened: "demand.opened"
        case .sandboxAnalysis(_, let type): type
        }
    }

    /// Administrators hear (through the market's admin webhook) that an operator's revenue passed its allowance.
    public static let revenueOverAllowance = "revenue.over_allowance"

    public var subjectID: UUID {
        switch self {
        case .newMatch(let id, _), .matchAccepted(let id), .order(let id, _), .demandOpened(let id), .sandboxAnalysis(let id, _): id
        }
    }
}

/// A party's webhook and the secret its deliveries are signed with.
public struct Webhook: Sendable, Equatable {
    public var url: String
    public var secret: String
}

/// What a webhook receives (as JSON, snake_case keys, ids in lowercase): the event and a snapshot of its
/// subject at delivery.
public struct WebhookEvent: Sendable, Codable, Equatable {
    public struct Subject: Sendable, Codable, Equatable {
        public var matchID: String?
        public var orderID: String?
        public var entitlementID: String?
        public var operatorID: String?
        public var demandID: String?
        public var analysisID: String?
        public var productID: String?
        public var productVersion: Int?
        public var state: String
        public var score: Double?
        public var amountFen: Int64?
    }

    public var id: String
    public var type: String
    public var occurredAt: Date
    public var data: Subject
}

extension MarketStore {
    /// Checks a webhook URL against `policy` (and the database's own address): resolving its host can
    /// take seconds, so the API does it before its request's transaction opens.
    public func checkWebhook(_ url: String, policy: WebhookPolicy) async throws -> CheckedWebhookURL {
        try await withDatabaseAddress(policy).check(url, field: "url")
    }

    /// Sets a party's webhook URL (checked against `policy`: https, and a host that is not this machine, a
    /// private network or the database; a refusal names the field `url`) and gives it a new signing
    /// secret, returned once (store it on the receiving side). A nil URL turns deliveries off.
    public func setWebhook(party partyID: UUID, url: String?, policy: WebhookPolicy = WebhookPolicy(), by actor: Actor) async throws -> String? {
        try await setWebhook(party: partyID, url: try await url.asyncMap { try await checkWebhook($0, policy: policy) }, by: actor)
    }

    /// Sets a party's webhook to a checked URL (nil: none) with a new signing secret, returned once.
    public func setWebhook(party partyID: UUID, url: CheckedWebhookURL?, by actor: Actor) async throws -> String? {
        let secret = url == nil ? nil : Self.newWebhookSecret()
        try await transaction { connection in
            let updated = try await connection.execute("""
                UPDATE parties SET webhook_url = \(url?.url), webhook_secret = \(secret) WHERE id = \(partyID)
                """)
            guard updated == 1 else { throw MarketNotFound("party", partyID) }
            try await connection.audit(actor, url == nil ? "party.webhook_off" : "party.webhook_set", "party", partyID)
        }
        return secret
    }

    /// Gives a party's webhook a new signing secret (returned once); nil when it has no webhook.
    public func rotateWebhookSecret(party partyID: UUID, by actor: Actor) async throws -> String? {
        let secret = Self.newWebhookSecret()
        return try await transaction { connection in
            let updated = try await connection.execute("""
                UPDATE parties SET webhook_secret = \(secret) WHERE id = \(partyID) AND webhook_url IS NOT NULL
                """)
            guard updated == 1 else { return nil }
            try await connection.audit(actor, "party.webhook_rotate", "party", partyID)
            return secret
        }
    }

    /// The webhook of a party, if it has one.
    public func webhook(of partyID: UUID) async throws -> Webhook? {
        let rows = try await query("SELECT webhook_url, webhook_secret FROM parties WHERE id = \(partyID)")
        guard let row = rows.first else { throw MarketNotFound("party", partyID) }
        let (url, secret) = try row.decode(String?.self, String?.self)
        guard let url, let secret else { return nil }
        return Webhook(url: url, secret: secret)
    }

    /// The event a `notify` job delivers, with its subject as it is now.
    public func webhookEvent(_ job: NotifyJob) async throws -> WebhookEvent {
        let subject: WebhookEvent.Subject
        if job.type.hasPrefix("order.") {
            let order = try await self.order(job.subjectID)
            subject = .init(matchID: order.matchID.map(\.lowercased), orderID: order.id.lowercased, productID: order.productID.lowercased,
                            productVersion: order.productVersion,
                            state: order.state.rawValue, amountFen: order.amountFen)
        } else if job.type.hasPrefix("entitlement.") {
            let entitlement = try await self.entitlement(job.subjectID)
            subject = .init(orderID: entitlement.orderID.lowercased, entitlementID: entitlement.id.lowercased, productID: entitlement.productID.lowercased,
                            productVersion: entitlement.productVersion, state: entitlement.state.rawValue)
        } else if job.type == MarketEvent.revenueOverAllowance {
            // The revenue of the latest year it passed its allowance in, as it stands now.
            let year = try await query("SELECT max(year) FROM revenue_alerts WHERE operator_id = \(job.subjectID)").scalar(Int32?.self) ?? nil
            let report = try await year.asyncMap { try await revenueReport(year: Int($0)).first { $0.operatorID == job.subjectID } } ?? nil
            subject = .init(operatorID: job.subjectID.lowercased, state: "over_allowance",
                            amountFen: report.map { NSDecimalNumber(decimal: $0.revenueFen).int64Value })
        } else if job.type.hasPrefix("sandbox_analysis.") {
            let analysis = try await sandboxAnalysis(job.subjectID)
            subject = .init(analysisID: analysis.id.lowercased, productID: analysis.productID.lowercased, state: analysis.state.rawValue)
        } else if job.type == "demand.opened" {
            let state = try await demandState(job.subjectID)
            subject = .init(demandID: job.subjectID.lowercased, state: state.rawValue)
        } else {
            let rows = try await query("""
                SELECT demand_id, product_id, product_version, state::text, score, quote_fen FROM matches WHERE id = \(job.subjectID)
                """)
            guard let row = rows.first else { throw MarketNotFound("match", job.subjectID) }
            let (demand, product, version, state, score, fen) = try row.decode(UUID.self, UUID.self, Int32.self, String.self, Double.self, Int64.self)
            subject = .init(matchID: job.subjectID.lowercased, demandID: demand.lowercased, productID: product.lowercased,
                            productVersion: Int(version), state: state,
                            score: score, amountFen: fen)
        }
        return WebhookEvent(id: job.eventID.lowercased, type: job.type, occurredAt: job.occurredAt, data: subject)
    }

    /// Checks a webhook's URL against `policy` again before a delivery, resolving its host anew; returns
    /// the address to connect to (see `WebhookPolicy.checkBeforeDelivery`).
    public func checkBeforeDelivery(_ webhook: Webhook, policy: WebhookPolicy) async throws -> String? {
        try await withDatabaseAddress(policy).checkBeforeDelivery(webhook.url)
    }

    /// `policy`, also refusing the database's own address as this store's connections reach it (when
    /// they reach it over TCP).
    func withDatabaseAddress(_ policy: WebhookPolicy) async throws -> WebhookPolicy {
        guard !policy.allowPrivateAddresses else { return policy }
        var policy = policy
        if let address = try await query("SELECT host(inet_server_addr())").scalar(String?.self) ?? nil {
            policy.refusedAddresses.insert(address)
        }
        return policy
    }

    /// 32 random bytes from the system's secure generator, hex.
    static func newWebhookSecret() -> String { randomHex(32) }
}

extension PostgresConnection {
    /// Enqueues a `notify` job for each party an event concerns that has a webhook, in the caller's
    /// transaction (so a notification exists exactly when its event does). One query finds the recipients.
    func enqueueNotifications(_ events: [MarketEvent]) async throws {
        guard !events.isEmpty else { return }
        let rows = try await query("""
            SELECT e.i, r.party
            FROM unnest(\(events.map(\.type)), \(events.map(\.subjectID))) WITH ORDINALITY AS e(type, subject, i)
            CROSS JOIN LATERAL (
                SELECT d.demander_id FROM matches m JOIN demands d ON d.id = m.demand_id WHERE e.type = 'match.proposed' AND m.id = e.subject
                UNION ALL
                SELECT p.operator_id FROM matches m JOIN products p ON p.id = m.product_id WHERE e.type = 'match.accepted' AND m.id = e.subject
                UNION ALL
                SELECT o.buyer_id FROM orders o WHERE e.type LIKE 'order.%' AND o.id = e.subject
                UNION ALL
                SELECT p.operator_id FROM orders o JOIN products p ON p.id = o.product_id WHERE e.type LIKE 'order.%' AND o.id = e.subject
                UNION ALL
                SELECT pdx_demand_followers(d.demander_id, d.sector, d.regions, d.scenario, d.purpose)
                FROM demands d WHERE e.type = 'demand.opened' AND d.id = e.subject
            ) AS r(party)
            JOIN parties w ON w.id = r.party AND w.webhook_url IS NOT NULL
            ORDER BY e.i, r.party
            """).decode(Int64.self, UUID.self)
        guard !rows.isEmpty else { return }
        let now = try await query("SELECT now()").scalar(Date.self) ?? Date()
        try await enqueue(try rows.map { index, party in
            let event = events[Int(index) - 1]
            return try NewJob(NotifyJob(partyID: party, type: event.type, subjectID: event.subjectID, occurredAt: now),
                              maxAttempts: NotifyJob.maxAttempts)
        })
    }
}

extension PostgresConnection {
    /// Enqueues a `notify` job of `event` for each of `parties` (found by the caller, with webhooks).
    func enqueueNotifications(_ event: MarketEvent, to parties: [UUID]) async throws {
        guard !parties.isEmpty else { return }
        let now = try await query("SELECT now()").scalar(Date.self) ?? Date()
        try await enqueue(try parties.map { party in
            try NewJob(NotifyJob(partyID: party, type: event.type, subjectID: event.subjectID, occurredAt: now), maxAttempts: NotifyJob.maxAttempts)
        })
    }
}

extension Optional {
    /// `map` with an async transform.
    public func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

extension UUID {
    /// The form PostgreSQL prints, for JSON that people and other systems read.
    var lowercased: String { uuidString.lowercased() }
}
