public import Foundation
import JobQueue
import Market
import Postgres
import MarketJobs

extension MarketStore {
    /// What a repricing pass did.
    public struct Repricing: Sendable, Equatable {
        public var repriced: Int
        public var withdrawn: [UUID]
    }

    /// Recomputes the quote of every proposed match (of one demander's demands, or of one demand, when
    /// given) under the rules in force now and the buyer's classes and approvals now (orders are never
    /// touched: they keep the quote they were placed with), and withdraws the matches whose new quote
    /// exceeds the demander's budget. Each match is updated only if it is still proposed.
    public func repriceProposedMatches(demander: UUID? = nil, demand: UUID? = nil,
                                       reason: String = "a pricing rule changed", by actor: Actor = .system) async throws -> Repricing {
        try await transaction { connection in
            _ = try await connection.query("""
                SELECT 1 FROM demands
                WHERE id IN (SELECT demand_id FROM matches WHERE state = 'proposed')
                  AND (\(demander)::uuid IS NULL OR demander_id = \(demander)) AND (\(demand)::uuid IS NULL OR id = \(demand))
                ORDER BY id FOR NO KEY UPDATE
                """)
            let rows = try await connection.query("""
                SELECT m.id, m.product_id, m.quote_fen, d.quantity, d.purpose::text, d.demander_id, d.scenario, d.budget_fen,
                       \(unsafeRaw: Rows.purposeApprovalColumn("d"))
                FROM matches m JOIN demands d ON d.id = m.demand_id
                WHERE m.state = 'proposed' AND (\(demander)::uuid IS NULL OR d.demander_id = \(demander)) AND (\(demand)::uuid IS NULL OR d.id = \(demand))
                ORDER BY m.id
                FOR UPDATE OF m
                """).decode(UUID.self, UUID.self, Int64.self, Int64.self, String.self, UUID.self, String.self, Int64.self, [UUID]?.self)
            let rules = try await connection.allRuleVersions()
            var repriced = 0
            var overBudget: [UUID] = []
            for (match, product, oldAmount, quantity, purpose, demander, scenario, budget, approval) in rows {
                let quote: Quote
                do {
                    quote = try await connection.quote(productID: product, quantity: quantity, purpose: try Rows.known(purpose, Purpose.self, "demands.purpose"),
                                                       buyerID: demander, scenario: scenario,
                                                       purposeApproval: approval.map { PurposeApproval(id: $0[0], agencyID: $0[1]) }, rules: rules)
                } catch is MarketInputError {
                    // No quote any more (above the largest amount an order may have): that proposal ends, not the pass.
                    overBudget.append(match)
                    continue
                }
                if quote.amountFen != oldAmount {
                    try await connection.execute("""
                        UPDATE matches SET quote = \(JSONB(quote)), quote_fen = \(quote.amountFen) WHERE id = \(match) AND state = 'proposed'
                        """)
                    try await connection.audit(actor, "match.reprice", "match", match,
                                               before: #"{"quote_fen":\#(oldAmount)}"#, after: #"{"quote_fen":\#(quote.amountFen)}"#)
                    repriced += 1
                }
                if quote.amountFen > budget { overBudget.append(match) }
            }
            var withdrawn: [UUID] = []
            for match in overBudget {
                try await connection.moveMatch(match, to: .withdrawn, reason: "price above the demander's budget after \(reason)", actor: actor)
                withdrawn.append(match)
            }
            // Demands left without a proposal are open again.
            try await connection.reopenDemandsWithoutProposals(
                try await connection.query("SELECT demand_id FROM matches WHERE id = ANY(\(withdrawn))").decode(UUID.self))
            return Repricing(repriced: repriced, withdrawn: withdrawn)
        }
    }
}

extension PostgresConnection {
    /// Moves the proposals of a product to the version now on sale: each is priced and scored again
    /// for its demand, and withdrawn when the version no longer passes the demand's hard rules (sector,
    /// region, delivery mode, budget, anti-monopoly). In the caller's transaction, which holds the
    /// product's lock, so no order can be placed meanwhile at an old version's quote.
    func requoteProposals(of productID: UUID, operatorID: UUID, version: Int, content: ProductVersion, actor: Actor) async throws {
        try await lockDemands(ofProposalsFor: [productID])
        let stale = try await query("""
            SELECT id, demand_id, product_version, quote_fen FROM matches
            WHERE product_id = \(productID) AND state = 'proposed' AND product_version <> \(Int32(version))
            ORDER BY id FOR UPDATE
            """).decode(UUID.self, UUID.self, Int32.self, Int64.self)
        guard !stale.isEmpty else { return }
        let rules = try await allRuleVersions()
        let since = try await query("SELECT min(greatest(lower(validity), created_at)) FROM authorizations WHERE operator_id = \(operatorID)").scalar(Date?.self) ?? nil
        let product = PricedProduct(id: productID, operatorID: operatorID, version: content, operatorSince: since)
        var withdrawn: [UUID] = []
        for (match, demandID, oldVersion, oldQuote) in stale {
            let subject = try await matchingSubject(demandID)
            guard let candidate = Candidate(subject, product, version: version, rules: rules, held: true) else {
                try await moveMatch(match, to: .withdrawn, reason: "the product's version \(version) no longer fits the demand", actor: actor)
                withdrawn.append(demandID)
                continue
            }
            let next = candidate.match(demandID: demandID)
            try await execute("""
                UPDATE matches SET product_version = \(Int32(version)), quote = \(JSONB(next.quote)), quote_fen = \(next.quote.amountFen),
                    score = \(next.score), reasons = \(next.reasonsJSON)::jsonb
                WHERE id = \(match) AND state = 'proposed'
                """)
            try await audit(actor, "match.requote", "match", match,
                            before: #"{"product_version":\#(oldVersion),"quote_fen":\#(oldQuote)}"#,
                            after: #"{"product_version":\#(version),"quote_fen":\#(next.quote.amountFen)}"#)
        }
        try await reopenDemandsWithoutProposals(withdrawn)
    }

    /// Matched demands left without any proposal are open again (audited, by the system).
    func reopenDemandsWithoutProposals(_ demands: [UUID]) async throws {
        guard !demands.isEmpty else { return }
        try await execute("""
            WITH reopened AS (
                UPDATE demands d SET state = 'open', state_changed_at = clock_timestamp(), updated_at = now()
                WHERE d.id = ANY(\(Array(Set(demands)))) AND d.state = 'matched'
                  AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.demand_id = d.id AND m.state = 'proposed')
                RETURNING d.id
            )
            INSERT INTO audit_events (actor, action, subject_type, subject_id, reason, before, after)
            SELECT \(Actor.system.description), 'demand.open', 'demand', id::text, 'no proposal left', '{"state":"matched"}', '{"state":"open"}'
            FROM reopened
            """)
    }
}
