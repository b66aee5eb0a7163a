public import Foundation
public import Market
import Postgres

/// A match proposal to store (the matching workers make these).
public struct NewMatch: Sendable {
    public var demandID: UUID
    public var productID: UUID
    public var productVersion: Int
    public var score: Double
    /// Readable reasons, one per scoring component (JSON array).
    public var reasonsJSON: String
    public var quote: Quote

    public init(demandID: UUID, productID: UUID, productVersion: Int, score: Double, reasonsJSON: String = "[]", quote: Quote) {
        self.demandID = demandID
        self.productID = productID
        self.productVersion = productVersion
        self.score = score
        self.reasonsJSON = reasonsJSON
        self.quote = quote
    }
}

/// An order as stored.
public struct StoredOrder: Sendable, Equatable {
    public var id: UUID
    public var buyerID: UUID
    public var productID: UUID
    public var productVersion: Int
    public var matchID: UUID?
    public var state: OrderState
    public var amountFen: Int64
    public var quote: Quote
    public var quantity: Int64 = 1
    public var purpose: Purpose = .industryDevelopment
    /// The business scenario the order was placed for (nil: an order placed before scenarios were recorded).
    public var scenario: String?
    /// The entitlement delivery started, and when it ends.
    public var entitlementStartsAt: Date?
    public var entitlementEndsAt: Date?
}

extension MarketStore {
    /// Stores a proposal; an open demand becomes matched. A demand holds one live proposal per product.
    public func propose(_ match: NewMatch, by actor: Actor = .system) async throws -> UUID {
        let stored = try await transaction { connection in try await connection.propose([match], actor: actor) }
        guard let id = stored.first else {
            throw MarketInputError(field: "product_id", rule: "is already proposed to this demand, or is no longer for sale")
        }
        return id
    }

    /// The demander declines a proposal.
    public func decline(match matchID: UUID, buyer buyerID: UUID, reason: String?, by actor: Actor) async throws {
        if let reason { try validateText(reason, field: "reason", maxLength: 2000, required: false) }
        try await transaction { connection in
            try await connection.lockDemand(ofMatch: matchID)
            let (demandID, _, _, _, _) = try await connection.lockMatch(matchID, buyer: buyerID, to: .declined)
            try await connection.moveMatch(matchID, to: .declined, reason: reason, actor: actor)
            if try await connection.query("SELECT 1 FROM matches WHERE demand_id = \(demandID) AND state = 'proposed'").isEmpty,
               try await connection.demandState(demandID) == .matched {
                try await connection.moveDemand(demandID, from: .matched, to: .open, actor: actor, reason: "every proposal declined")
            }
        }
    }

    /// The demander accepts a proposal: the match becomes an order at the match's quote, and the demand is
    /// ordered. The product is locked first (as a revision locks it before its proposals), so a revision
    /// in flight is waited for and its requote seen: an order is only placed for the version on sale.
    public func accept(match matchID: UUID, buyer buyerID: UUID, by actor: Actor) async throws -> StoredOrder {
        try await transaction { connection in
            // The market's lock order: the product, the demand, then the match.
            if let product = try await connection.query("SELECT product_id FROM matches WHERE id = \(matchID)").scalar(UUID.self) {
                _ = try await connection.query("SELECT 1 FROM products WHERE id = \(product) FOR SHARE")
            }
            try await connection.lockDemand(ofMatch: matchID)
            let (demandID, productID, version, proposed, purpose) = try await connection.lockMatch(matchID, buyer: buyerID, to: .accepted)
            // Priced again under the rules in force now: a decrease since the proposal applies at once; an
            // increase that took effect since then (after its notice) is not charged to a buyer who accepted
            // another price: the proposal is requoted first (the repricing job does it, or the product's revision).
            let subject = try await connection.matchingSubject(demandID)
            let current = try await connection.quote(productID: productID, quantity: proposed.quantity, purpose: purpose, buyerID: buyerID,
                                                     scenario: subject.demand.scenario, purposeApproval: subject.purposeApproval)
            guard current.amountFen <= proposed.amountFen else {
                throw TransitionRefused(subject: "proposal", from: "quoted \(proposed.amountFen) fen, now \(current.amountFen) fen under the rules in force",
                                        to: "accepted before it is requoted", allowed: [])
            }
            // The proposal's own quote (what the buyer saw) unless the rules in force now price it lower.
            let quote = current.amountFen < proposed.amountFen ? current : proposed
            let order = try await connection.placeOrder(buyer: buyerID, productID: productID, version: version, matchID: matchID,
                                                        purpose: purpose, scenario: subject.demand.scenario, quote: quote, actor: actor)
            try await connection.moveMatch(matchID, to: .accepted, reason: nil, actor: actor)
            let state = try await connection.demandState(demandID)
            try await connection.moveDemand(demandID, from: state, to: try state.moving(to: .ordered), actor: actor, reason: nil)
            return order
        }
    }

    /// Places an order without a match (direct purchase), at the quote the pricing rules in force give now
    /// for this buyer, quantity, purpose and scenario: the same pure quote an accepted match gets, under the
    /// same rules (the product for sale at its version under an authorization in force, the anti-monopoly
    /// rule, free public-interest use only for a verified buyer, parties active). With `maximumFen`, an
    /// order that would cost more is refused instead (the buyer's budget cap).
    public func order(product productID: UUID, quantity: Int64, purpose: Purpose, buyer buyerID: UUID, scenario: String,
                      maximumFen: Int64? = nil, by actor: Actor) async throws -> StoredOrder {
        try validateSlugs([scenario], field: "scenario")
        if let maximumFen { try Money.validate(maximumFen, field: "max_amount_fen", maximum: Money.maximumAmountFen) }
        return try await transaction { connection in
            let kind = try await connection.query("SELECT kind::text FROM parties WHERE id = \(buyerID)").scalar(String.self)
            guard kind == PartyKind.demander.rawValue || kind == PartyKind.operator.rawValue else {
                throw MarketInputError(field: "buyer_id", rule: "must name a registered demander or operator")
            }
            let product = try await connection.product(productID, lock: false)
            // A scenario the market does not know says so (listing those it does) before one the product does not serve.
            _ = try await connection.query("SELECT pdx_require_known(ARRAY[\(scenario)], 'scenario', 'scenarios')")
            guard product.current.scenarios.contains(scenario) else {
                throw PolicyViolation(.hardRules, "the product serves the scenarios \(product.current.scenarios.joined(separator: ", ")), not \(scenario)")
            }
            let quote = try await connection.quote(productID: productID, quantity: quantity, purpose: purpose, buyerID: buyerID, scenario: scenario)
            if let maximumFen, quote.amountFen > maximumFen {
                throw PolicyViolation(.hardRules, "the quote of \(quote.amountFen) fen is over max_amount_fen (\(maximumFen) fen)")
            }
            return try await connection.placeOrder(buyer: buyerID, productID: productID, version: product.version, matchID: nil,
                                                   purpose: purpose, scenario: scenario, quote: quote, actor: actor)
        }
    }

    /// Moves an order along its life cycle; delivery starts the entitlement (one year by default), and
    /// completion fulfils the demand it came from.
    public func changeOrder(_ id: UUID, to next: OrderState, reason: String?, entitlement: TimeInterval = 365 * 86_400,
                            by actor: Actor) async throws {
        if let reason { try validateText(reason, field: "reason", maxLength: 2000, required: false) }
        try await transaction { connection in
            let rows = try await connection.query("SELECT state::text, match_id FROM orders WHERE id = \(id) FOR UPDATE")
            guard let row = rows.first else { throw MarketNotFound("order", id) }
            let (stateText, matchID) = try row.decode(String.self, UUID?.self)
            let current = try Rows.known(stateText, OrderState.self, "orders.state")
            _ = try current.moving(to: next)
            try await connection.execute("""
                UPDATE orders SET state = \(next.rawValue)::pdx_order_state, state_reason = \(reason), state_changed_at = now(),
                    entitlement_starts_at = CASE WHEN \(next == .delivered) THEN now() ELSE entitlement_starts_at END,
                    entitlement_ends_at = CASE WHEN \(next == .delivered) THEN now() + make_interval(secs => \(entitlement))
                                               ELSE entitlement_ends_at END
                WHERE id = \(id) AND state = \(current.rawValue)::pdx_order_state
                """)
            try await connection.audit(actor, "order.\(next.rawValue)", "order", id, reason: reason,
                                       before: stateJSON(current.rawValue), after: stateJSON(next.rawValue))
            try await connection.enqueueNotifications([.order(orderID: id, state: next)])
            if let matchID, next == .completed || next == .rejected || next == .cancelled {
                let demandID = try await connection.query("SELECT demand_id FROM matches WHERE id = \(matchID)").scalar(UUID.self)
                if let demandID, try await connection.demandState(demandID) == .ordered {
                    try await connection.moveDemand(demandID, from: .ordered, to: next == .completed ? .fulfilled : .open,
                                                    actor: actor, reason: reason)
                }
            }
        }
    }

    public func order(_ id: UUID) async throws -> StoredOrder {
        try await read { connection in try await connection.order(id) }
    }
}

extension PostgresConnection {
    func order(_ id: UUID) async throws -> StoredOrder {
        guard let row = try await query("SELECT \(unsafeRaw: Self.orderColumns) FROM orders o WHERE o.id = \(id)").first else {
            throw MarketNotFound("order", id)
        }
        return try Self.order(row)
    }

    static let orderColumns = """
        o.id, o.buyer_id, o.product_id, o.product_version, o.match_id, o.state::text, o.amount_fen, o.quote, o.quantity, o.purpose::text,
        o.scenario, o.entitlement_starts_at, o.entitlement_ends_at
        """

    static func order(_ row: PostgresRow) throws -> StoredOrder {
        let (id, buyer, product, version, match, state, amount, quote) = try row.decode(
            UUID.self, UUID.self, UUID.self, Int32.self, UUID?.self, String.self, Int64.self, JSONB<Quote>.self, at: 0)
        let (quantity, purpose, scenario, starts, ends) = try row.decode(Int64.self, String.self, String?.self, Date?.self, Date?.self, at: 8)
        return StoredOrder(id: id, buyerID: buyer, productID: product, productVersion: Int(version), matchID: match,
                           state: try Rows.known(state, OrderState.self, "orders.state"), amountFen: amount, quote: quote.value,
                           quantity: quantity, purpose: try Rows.known(purpose, Purpose.self, "orders.purpose"), scenario: scenario,
                           entitlementStartsAt: starts, entitlementEndsAt: ends)
    }

    /// Locks the demand of a match (before the match itself, in the market's lock order).
    func lockDemand(ofMatch matchID: UUID) async throws {
        _ = try await query("SELECT 1 FROM demands WHERE id = (SELECT demand_id FROM matches WHERE id = \(matchID)) FOR NO KEY UPDATE")
    }

    /// Locks a proposed match of one of the buyer's demands; another buyer's match does not exist for them.
    func lockMatch(_ matchID: UUID, buyer buyerID: UUID, to next: MatchState) async throws -> (UUID, UUID, Int, Quote, Purpose) {
        let rows = try await query("""
            SELECT m.demand_id, m.product_id, m.product_version, m.quote, m.state::text, d.purpose::text
            FROM matches m JOIN demands d ON d.id = m.demand_id
            WHERE m.id = \(matchID) AND d.demander_id = \(buyerID)
            FOR UPDATE OF m
            """)
        guard let row = rows.first else { throw MarketNotFound("match", matchID) }
        let (demand, product, version, quote, state, purpose) = try row.decode(
            UUID.self, UUID.self, Int32.self, JSONB<Quote>.self, String.self, String.self)
        _ = try Rows.known(state, MatchState.self, "matches.state").moving(to: next)
        return (demand, product, Int(version), quote.value, try Rows.known(purpose, Purpose.self, "demands.purpose"))
    }

    func moveMatch(_ id: UUID, to next: MatchState, reason: String?, actor: Actor) async throws {
        let moved = try await execute("""
            UPDATE matches SET state = \(next.rawValue)::pdx_match_state, state_reason = \(reason), state_changed_at = now()
            WHERE id = \(id) AND state = 'proposed'
            """)
        guard moved == 1 else { throw TransitionRefused(subject: "match", from: "no longer proposed", to: next.rawValue, allowed: []) }
        try await audit(actor, "match.\(next.rawValue)", "match", id, reason: reason, before: stateJSON("proposed"), after: stateJSON(next.rawValue))
    }

    /// Checks that the product can be sold (listed, under an authorization in force) and rule 4, then
    /// inserts the order with its quote.
    func placeOrder(buyer buyerID: UUID, productID: UUID, version: Int, matchID: UUID?, purpose: Purpose, scenario: String, quote: Quote,
                    actor: Actor) async throws -> StoredOrder {
        _ = try await query("SELECT 1 FROM products WHERE id = \(productID) FOR SHARE")
        let product = try await self.product(productID, lock: false)
        guard product.state == .listed else {
            throw TransitionRefused(subject: "product", from: product.state.rawValue, to: "ordered", allowed: [])
        }
        guard product.version == version else {
            throw TransitionRefused(subject: "proposal", from: "for version \(version) of a product now sold at version \(product.version)",
                                    to: "ordered", allowed: [])
        }
        let now = try await query("SELECT now()").scalar(Date.self) ?? Date()
        guard let authorization = try await authorization(product.authorizationID, lock: false), authorization.isInForce(at: now) else {
            throw PolicyViolation(.scope, "the product's authorization is not in force")
        }
        if product.derived, let lapsed = try await lapsedLineageGrant(of: [productID]) {
            throw PolicyViolation(.scope, "authorization \(lapsed.id.lowercased) behind the product's lineage is \(lapsed.why), not in force")
        }
        let buyer = try await partyRow(buyerID)
        let sold = try await productVersion(productID, version)
        try Policy.checkAntiMonopoly(buyer: buyer, authorizations: try await authorizationsInForce(of: [buyerID])[buyerID] ?? [],
                                     product: sold, at: now)
        let id = UUID()
        try await execute("""
            INSERT INTO orders (id, buyer_id, product_id, product_version, match_id, quantity, purpose, scenario, quote, amount_fen)
            VALUES (\(id), \(buyerID), \(productID), \(Int32(version)), \(matchID), \(quote.quantity), \(purpose.rawValue)::pdx_purpose,
                    \(scenario), \(JSONB(quote)), \(quote.amountFen))
            """)
        try await audit(actor, "order.place", "order", id,
                        after: #"{"state":"placed","amount_fen":\#(quote.amountFen),"direct":\#(matchID == nil)}"#)
        try await enqueueNotifications((matchID.map { [MarketEvent.matchAccepted(matchID: $0)] } ?? []) + [.order(orderID: id, state: .placed)])
        return StoredOrder(id: id, buyerID: buyerID, productID: productID, productVersion: version, matchID: matchID, state: .placed,
                           amountFen: quote.amountFen, quote: quote, quantity: quote.quantity, purpose: purpose, scenario: scenario)
    }

    func partyRow(_ id: UUID) async throws -> Party {
        guard let row = try await query("SELECT \(unsafeRaw: Rows.partyColumns("p")) FROM parties p WHERE p.id = \(id)").first else {
            throw MarketInputError(field: "buyer_id", rule: "must name a registered party")
        }
        return try await withVerifications(try Rows.party(row, from: 0))
    }
}

extension MarketStore {
    /// The orders a party takes part in, as buyer or as the operator of the product, in id order after
    /// `cursor`, `limit` at a time.
    public func orders(of partyID: UUID, after cursor: UUID? = nil, limit: Int = 50) async throws -> [StoredOrder] {
        guard (1...200).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 200") }
        // One query for the page.
        return try await query("""
            SELECT \(unsafeRaw: PostgresConnection.orderColumns) FROM orders o JOIN products p ON p.id = o.product_id
            WHERE (o.buyer_id = \(partyID) OR p.operator_id = \(partyID)) AND (\(cursor)::uuid IS NULL OR o.id > \(cursor))
            ORDER BY o.id LIMIT \(Int32(limit))
            """).map(PostgresConnection.order)
    }

    /// The operator of an order's product.
    public func seller(of order: StoredOrder) async throws -> UUID {
        try await product(order.productID).operatorID
    }
}
