public import Foundation
import Market
import Postgres

extension MarketStore {
    /// For benchmarks and tests at scale: `count` orders of `product` (version 1) by `buyers` in turn, each of
    /// `quantity` units, placed accepted and then delivered in bulk, 5,000 a transaction, with terms from
    /// `startsAt` to a year from now; the database makes each entitlement as delivery does (sql/0019).
    /// Returns every entitlement of the product, in id order.
    public func deliverSyntheticOrders(product: UUID, buyers: [UUID], count: Int, quantity: Int64, startsAt: Date,
                                       progress: @Sendable (Int) -> Void = { _ in }) async throws -> [UUID] {
        guard !buyers.isEmpty else { throw MarketInputError(field: "buyers", rule: "must name at least one buyer") }
        var done = 0
        while done < count {
            let batch = min(5_000, count - done)
            try await pool.withTransaction { connection in
                try await connection.execute("""
                    INSERT INTO orders (buyer_id, product_id, product_version, quantity, purpose, scenario, quote, amount_fen, state)
                    SELECT (\(buyers))[1 + i % \(Int32(buyers.count))], \(product), 1, \(quantity), 'industry_development',
                           (SELECT scenarios[1] FROM product_versions WHERE product_id = \(product) AND version = 1), '{}', 0, 'accepted'
                    FROM generate_series(1, \(Int32(batch))) AS i
                    """)
                // A separate statement: a data-modifying CTE's rows are not visible to the rest of its statement.
                try await connection.execute("""
                    UPDATE orders SET state = 'delivered', entitlement_starts_at = \(startsAt), entitlement_ends_at = now() + interval '1 year'
                    WHERE product_id = \(product) AND state = 'accepted'
                    """)
            }
            done += batch
            progress(done)
        }
        return try await query("SELECT id FROM entitlements WHERE product_id = \(product) ORDER BY id").decode(UUID.self)
    }

    /// For benchmarks and tests at scale: usage written straight into the daily totals (not through
    /// `recordUsage`): each entitlement used from 1 to `maximum` units on every `every`-th day of `month`.
    public func writeSyntheticUsage(_ entitlements: [UUID], in month: BillingPeriod, every: Int, maximum: Int) async throws {
        try await pool.withTransaction { connection in
            try await connection.execute("""
                INSERT INTO usage_daily (entitlement_id, day, units)
                SELECT e, \(month.first)::date + d, 1 + (abs(hashtext(e::text || d::text)) % \(Int32(maximum)))
                FROM unnest(\(entitlements)) AS e CROSS JOIN generate_series(0, 27, \(Int32(every))) AS d
                """)
            try await connection.execute("""
                UPDATE entitlements e SET units_used = e.units_used + u.units
                FROM (SELECT entitlement_id, sum(units)::int8 AS units FROM usage_daily WHERE entitlement_id = ANY(\(entitlements)) GROUP BY 1) u
                WHERE e.id = u.entitlement_id
                """)
        }
    }
}
