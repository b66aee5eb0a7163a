public import Foundation
import JobQueue
import Market
import Postgres

extension MarketStore {
    /// What a repricing pass did.
    public struct Repricing: Sendable, Equatable {
        public var repriced: Int
        public var withdrawn: [UUID]
    }

    /// Recomputes the quote of every proposed match under the rules in force now (orders are never
    /// touched: they keep the quote they were placed with), and withdraws the matches whose new quote
    /// exceeds the demander's budget. Each match is updated only if it is still proposed.
    public func repriceProposedMatches(by actor: Actor = .system) async throws -> Repricing {
        try await transaction { connection in
            let rows = try await connection.query("""
                SELECT m.id, m.product_id, m.quote_fen, d.quantity, d.purpose::text, d.demander_id, d.scenario, d.budget_fen
                FROM matches m JOIN demands d ON d.id = m.demand_id
                WHERE m.state = 'proposed'
                ORDER BY m.id
                FOR UPDATE OF m
                """).decode(UUID.self, UUID.self, Int64.self, Int64.self, String.self, UUID.self, String.self, Int64.self)
            let rules = try await connection.allRuleVersions()
            var repriced = 0
            var overBudget: [UUID] = []
            for (match, product, oldAmount, quantity, purpose, demander, scenario, budget) in rows {
                let quote = try await connection.quote(productID: product, quantity: quantity, purpose: Purpose(rawValue: purpose) ?? .industryDevelopment,
                                                       buyerID: demander, scenario: scenario, rules: rules)
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
                try await connection.moveMatch(match, to: .withdrawn, reason: "price above the demander's budget after a pricing rule change", actor: actor)
                withdrawn.append(match)
            }
            // Demands left without a proposal are open again.
            try await connection.execute("""
                UPDATE demands d SET state = 'open', state_changed_at = clock_timestamp(), updated_at = now()
                FROM matches m
                WHERE m.id = ANY(\(withdrawn)) AND d.id = m.demand_id AND d.state = 'matched'
                  AND NOT EXISTS (SELECT 1 FROM matches o WHERE o.demand_id = d.id AND o.state = 'proposed')
                """)
            return Repricing(repriced: repriced, withdrawn: withdrawn)
        }
    }
}
