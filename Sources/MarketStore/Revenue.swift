public import Foundation
import Market
import Postgres

/// One operator's revenue (its issued statements) against its allowance for a year. Amounts are exact
/// decimals: a year's revenue is a sum of statements and may exceed 64 bits, which no report may fail on.
public struct OperatorRevenue: Sendable, Equatable, Codable {
    public var operatorID: UUID
    public var name: String
    public var year: Int
    /// The allowance set for the year (nil: none set).
    public var allowanceFen: Decimal?
    /// Last year's revenue above last year's allowance, deducted from this year's.
    public var deductionFen: Decimal
    public var effectiveAllowanceFen: Decimal?
    public var revenueFen: Decimal
    /// Revenue above the effective allowance (reported, and deducted next year).
    public var overageFen: Decimal
}

extension MarketStore {
    /// Sets an operator's maximum allowed revenue for a year (a later call replaces it; both are audited).
    public func setRevenueAllowance(operator operatorID: UUID, year: Int, allowanceFen: Int64, author: String, reason: String) async throws {
        guard (2000...2200).contains(year) else { throw MarketInputError(field: "year", rule: "must be from 2000 to 2200") }
        try Money.validate(allowanceFen, field: "allowance_fen")
        try validateText(author, field: "actor", maxLength: 200)
        try validateText(reason, field: "reason", maxLength: 2000)
        try await transaction { connection in
            try await connection.execute("""
                INSERT INTO revenue_allowances (operator_id, year, allowance_fen, set_by, reason)
                VALUES (\(operatorID), \(Int32(year)), \(allowanceFen), \(author), \(reason))
                ON CONFLICT (operator_id, year) DO UPDATE
                SET allowance_fen = EXCLUDED.allowance_fen, set_by = EXCLUDED.set_by, reason = EXCLUDED.reason, set_at = now()
                """)
            try await connection.audit(.administrator(author), "revenue.allowance", "party", operatorID, reason: reason,
                                       after: #"{"year":\#(year),"allowance_fen":\#(allowanceFen)}"#)
        }
    }

    /// Every operator's revenue against its allowance for `year`, with last year's overage deducted.
    public func revenueReport(year: Int) async throws -> [OperatorRevenue] {
        guard (2000...2200).contains(year) else { throw MarketInputError(field: "year", rule: "must be from 2000 to 2200") }
        return try await read { connection in
            let operators = try await connection.query("SELECT id, name FROM parties WHERE kind = 'operator' ORDER BY name, id")
                .decode(UUID.self, String.self)
            let allowances = try await connection.query("""
                SELECT operator_id, year, allowance_fen FROM revenue_allowances WHERE year <= \(Int32(year))
                """).decode(UUID.self, Int32.self, Int64.self)
            // From issued statements (adjustments included), by the year of their month; summed in numeric, read as text: exact at any size.
            let revenues = try await connection.query("""
                SELECT seller_id, extract(year FROM period)::int4, sum(amount_fen)::text FROM statements
                WHERE period < make_date(\(Int32(year + 1)), 1, 1)
                GROUP BY 1, 2
                """).decode(UUID.self, Int32.self, String.self)
            var allowance: [UUID: [Int: Decimal]] = [:], revenue: [UUID: [Int: Decimal]] = [:]
            for (id, y, fen) in allowances { allowance[id, default: [:]][Int(y)] = Decimal(fen) }
            for (id, y, fen) in revenues {
                guard let sum = Decimal(string: fen) else { throw PostgresError(kind: .protocolViolation, message: "a sum of fen read as '\(fen)'") }
                revenue[id, default: [:]][Int(y)] = sum
            }
            return operators.map { id, name in
                // Carry overages forward from the first year with an allowance.
                var deduction: Decimal = 0
                var row = OperatorRevenue(operatorID: id, name: name, year: year, allowanceFen: nil, deductionFen: 0, effectiveAllowanceFen: nil,
                                          revenueFen: revenue[id]?[year] ?? 0, overageFen: 0)
                let first = allowance[id]?.keys.min() ?? year
                for y in first...year {
                    let earned = revenue[id]?[y] ?? 0
                    let set = allowance[id]?[y]
                    let effective = set.map { max(0, $0 - deduction) }
                    let overage = effective.map { max(0, earned - $0) } ?? 0
                    if y == year {
                        row.allowanceFen = set
                        row.deductionFen = set == nil ? 0 : deduction
                        row.effectiveAllowanceFen = effective
                        row.overageFen = overage
                    }
                    deduction = overage
                }
                return row
            }
        }
    }
}
