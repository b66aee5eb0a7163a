public import Foundation
import Market
import Postgres

/// What agencies and operators must publish for a year (rule 6 of DOMAIN.md): the caps, each operator's
/// products and actual prices, and each operator's revenue against its allowance.
public struct Disclosure: Sendable, Codable, Equatable {
    public struct Cap: Sendable, Codable, Equatable {
        public var rule: Int64
        public var version: Int
        public var maxUnitPriceFen: Int64
        public var scope: String
        public var effectiveAt: Date
        public var retiredAt: Date?
    }

    public struct Product: Sendable, Codable, Equatable {
        public var operatorName: String
        public var productID: UUID
        public var version: Int
        public var title: String
        public var sector: String
        public var chargeUnit: String
        public var listPriceFen: Int64
        public var state: String
    }

    public var year: Int
    public var caps: [Cap]
    public var products: [Product]
    public var revenue: [OperatorRevenue]
}

extension MarketStore {
    public func disclosure(year: Int) async throws -> Disclosure {
        let revenue = try await revenueReport(year: year)
        let end = Calendar.utcYearStart(year + 1), start = Calendar.utcYearStart(year)
        let versions = try await pricingRuleVersions()
        // Cap versions that were in force at some time during the year.
        let caps = Dictionary(grouping: versions, by: \.id).values.flatMap { history in
            history.sorted { $0.version < $1.version }.enumerated().compactMap { index, rule -> Disclosure.Cap? in
                guard case .cap(let max) = rule.kind else { return nil }
                let until = [index + 1 < history.count ? history.sorted { $0.version < $1.version }[index + 1].effectiveAt : nil, rule.retiredAt]
                    .compactMap { $0 }.min() ?? .distantFuture
                guard rule.effectiveAt < end, until > start else { return nil }
                let parts = [rule.scope.sector, rule.scope.region?.value, rule.scope.productID?.uuidString.lowercased(),
                             rule.scope.operatorID?.uuidString.lowercased(), rule.scope.chargeUnit?.rawValue].compactMap { $0 }
                return Disclosure.Cap(rule: rule.id, version: rule.version, maxUnitPriceFen: max,
                                      scope: parts.isEmpty ? "all" : parts.joined(separator: " "), effectiveAt: rule.effectiveAt, retiredAt: rule.retiredAt)
            }
        }.sorted { ($0.rule, $0.version) < ($1.rule, $1.version) }
        let products = try await query("""
            SELECT o.name, p.id, v.version, v.title, v.sector, v.charge_unit::text, v.list_price_fen, p.state::text
            FROM products p JOIN parties o ON o.id = p.operator_id
            JOIN product_versions v ON v.product_id = p.id AND v.frozen
            WHERE v.created_at < \(end) AND (p.state <> 'delisted' OR p.state_changed_at >= \(start))
            ORDER BY o.name, p.id, v.version
            """).decode(String.self, UUID.self, Int32.self, String.self, String.self, String.self, Int64.self, String.self).map {
            Disclosure.Product(operatorName: $0.0, productID: $0.1, version: Int($0.2), title: $0.3, sector: $0.4, chargeUnit: $0.5,
                               listPriceFen: $0.6, state: $0.7)
        }
        return Disclosure(year: year, caps: caps, products: products, revenue: revenue)
    }
}

extension Calendar {
    static func utcYearStart(_ year: Int) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar.date(from: DateComponents(year: year, month: 1, day: 1)) ?? .distantPast
    }
}

extension Disclosure {
    /// The three tables as CSV (RFC 4180 quoting), by file name.
    public var csvFiles: [String: String] {
        func csv(_ header: [String], _ rows: [[String]]) -> String {
            func quote(_ field: String) -> String {
                field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                    ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
            }
            return ([header] + rows).map { $0.map(quote).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
        }
        let iso = { (date: Date?) in date.map { $0.formatted(.iso8601) } ?? "" }
        return [
            "caps.csv": csv(["rule", "version", "max_unit_price_fen", "scope", "effective_at", "retired_at"],
                            caps.map { ["\($0.rule)", "\($0.version)", "\($0.maxUnitPriceFen)", $0.scope, iso($0.effectiveAt), iso($0.retiredAt)] }),
            "products.csv": csv(["operator", "product_id", "version", "title", "sector", "charge_unit", "list_price_fen", "state"],
                                products.map { [$0.operatorName, $0.productID.uuidString.lowercased(), "\($0.version)", $0.title, $0.sector,
                                                $0.chargeUnit, "\($0.listPriceFen)", $0.state] }),
            "revenue.csv": csv(["operator", "year", "allowance_fen", "deduction_fen", "effective_allowance_fen", "revenue_fen", "overage_fen"],
                               revenue.map { [$0.name, "\($0.year)", $0.allowanceFen.map { "\($0)" } ?? "", "\($0.deductionFen)",
                                              $0.effectiveAllowanceFen.map { "\($0)" } ?? "", "\($0.revenueFen)", "\($0.overageFen)"] }),
        ]
    }
}
