public import Foundation
public import Market
import Postgres

// Read-only reports on matching, for administrators (`pdxctl matches`, `pdxctl demand gaps`). Every
// filter reaches SQL as a bound parameter; only fixed fragments are composed.

/// Matching figures for one sector, or for all of them together.
public struct MatchStats: Sendable, Codable, Equatable {
    /// nil: every sector together.
    public var sector: String?
    /// Demands first opened in the period.
    public var demandsOpened: Int
    /// Of those, the demands with at least one match (in any state).
    public var demandsMatched: Int
    /// `demandsMatched / demandsOpened`; nil when no demand opened.
    public var matchRate: Double?
    /// Seconds from a demand's first opening to its first match, over the matched demands: median and 95th percentile.
    public var firstMatchSecondsP50: Double?
    public var firstMatchSecondsP95: Double?
    /// Proposals made in the period, and what became of them.
    public var proposals: Int
    public var pending: Int
    public var accepted: Int
    public var declined: Int
    public var withdrawn: Int
    /// `accepted / (accepted + declined)`; nil when the demanders decided on none yet.
    public var acceptanceRate: Double?
}

/// `MarketStore.matchStats`: the figures for all sectors and for each.
public struct MatchStatsReport: Sendable, Codable, Equatable {
    public var since: Date?
    public var overall: MatchStats
    /// One entry per sector with demands opened or proposals made, by sector code.
    public var sectors: [MatchStats]
}

/// Which matches `MarketStore.matches(_:)` lists; every filter is optional.
public struct MatchFilter: Sendable, Hashable {
    public var demandID: UUID?
    public var productID: UUID?
    public var demanderID: UUID?
    public var operatorID: UUID?
    public var sector: String?
    public var state: MatchState?
    /// Proposed at or after this time.
    public var since: Date?
    /// From 1 to `maximumLimit`.
    public var limit: Int

    public static let maximumLimit = 1_000

    public init(demandID: UUID? = nil, productID: UUID? = nil, demanderID: UUID? = nil, operatorID: UUID? = nil, sector: String? = nil,
                state: MatchState? = nil, since: Date? = nil, limit: Int = 50) {
        self.demandID = demandID
        self.productID = productID
        self.demanderID = demanderID
        self.operatorID = operatorID
        self.sector = sector
        self.state = state
        self.since = since
        self.limit = limit
    }
}

/// A match as listed: who and what it joins, its score and the reason that weighed most.
public struct MatchSummary: Sendable, Codable, Equatable {
    @LowercaseUUID public var id: UUID
    public var createdAt: Date
    public var state: MatchState
    public var stateChangedAt: Date
    public var score: Double
    public var quoteFen: Int64
    public var sector: String
    @LowercaseUUID public var demandID: UUID
    public var demandTitle: String
    @LowercaseUUID public var demanderID: UUID
    public var demanderName: String
    @LowercaseUUID public var productID: UUID
    public var productVersion: Int
    public var productTitle: String
    @LowercaseUUID public var operatorID: UUID
    public var operatorName: String
    /// The component that contributed most to the score (value × weight).
    public var topReason: Matching.Reason?
    /// Proposed by the product's operator from the demand board, not by the matching workers.
    public var manual = false
}

/// One match with everything that explains it: the reasons behind its score and the quote's line items.
public struct MatchDetail: Sendable, Codable, Equatable {
    public var summary: MatchSummary
    /// Why the match is no longer proposed (declined or withdrawn), when a reason was given.
    public var stateReason: String?
    public var purpose: Purpose
    public var budgetFen: Int64
    /// One per scoring component; `value × weight` adds up to the score.
    public var reasons: [Matching.Reason]
    public var quote: Quote
}

/// Why no listed product serves a demand: the first hard rule, in matching's order, that no listed
/// product passes. "Listed" means listed under an authorization in force, as matching sees it.
public enum GapDiagnosis: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case noProductInSector = "no_product_in_sector"
    case noneInRegion = "none_in_region"
    case noneWithDeliveryMode = "none_with_delivery_mode"
    /// Approximated with list price × quantity; public governance and public welfare are free.
    case noneWithinBudget = "none_within_budget"
    /// Some listed product passes all four: the demand waits for matching, or the anti-monopoly rule or
    /// the quote under the pricing rules ruled it out.
    case passesHardRules = "passes_hard_rules"

    public var description: String {
        switch self {
        case .noProductInSector: "no listed product in sector"
        case .noneInRegion: "none in region"
        case .noneWithDeliveryMode: "none with an accepted delivery mode"
        case .noneWithinBudget: "none within budget"
        case .passesHardRules: "listed products pass sector, region, delivery mode and budget: not matched yet, or ruled out by anti-monopoly or the pricing rules"
        }
    }

    /// The order of the rules: sector, region, delivery mode, budget, then none.
    static let byStage: [GapDiagnosis] = [.noProductInSector, .noneInRegion, .noneWithDeliveryMode, .noneWithinBudget, .passesHardRules]
}

/// Demand that found no product, for one sector, scenario, set of regions and set of fields wanted.
public struct DemandGap: Sendable, Codable, Equatable {
    public struct DiagnosisCount: Sendable, Codable, Equatable {
        public var diagnosis: GapDiagnosis
        public var demands: Int

        public init(diagnosis: GapDiagnosis, demands: Int) {
            self.diagnosis = diagnosis
            self.demands = demands
        }
    }

    public var sector: String
    /// The sector's Chinese name.
    public var sectorName: String
    public var scenario: String
    /// The demands' regions (sorted).
    public var regions: [String]
    /// The fields the demands want (sorted).
    public var fieldsWanted: [String]
    public var demands: Int
    public var demanders: Int
    /// Demands still open, and those that expired or were cancelled unmatched.
    public var open: Int
    public var expired: Int
    public var cancelled: Int
    public var totalBudgetFen: Int64
    /// When the oldest demand of the group was posted.
    public var oldest: Date
    /// The diagnosis of most of the group's demands (on a tie, the earlier rule).
    public var diagnosis: GapDiagnosis
    /// Every diagnosis found in the group, in the rules' order.
    public var diagnoses: [DiagnosisCount]
    /// Wanted fields that no listed product of the sector offers in any of the regions: the data to open.
    public var missingFields: [String]
    /// Listed products in the sector, and of those, the ones covering one of the regions.
    public var listedInSector: Int
    public var listedInRegion: Int
    /// For demands diagnosed "none within budget": the cheapest list-price quote among products of the
    /// sector and regions with an accepted delivery mode.
    public var cheapestQuoteFen: Int64?
    /// Up to three of the demands' titles, oldest first.
    public var examples: [String]
}

extension MarketStore {
    /// Matching figures since `since` (all time when nil), overall and per sector (or for one sector).
    /// Demand figures count the demands first opened in the period (a demand's first `open` stay);
    /// proposal figures count the matches proposed in the period and the state each is in now.
    public func matchStats(since: Date? = nil, sector: String? = nil) async throws -> MatchStatsReport {
        try await checkSector(sector)
        var demandScope: [PostgresQuery] = []
        if let sector { demandScope.append("d.sector = \(sector)") }
        var openedScope: [PostgresQuery] = [], proposedScope = demandScope
        if let since {
            openedScope.append("o.opened_at >= \(since)")
            proposedScope.append("m.created_at >= \(since)")
        }
        let rows = try await query("""
            WITH opened AS (
                SELECT d.id, d.sector, min(s.entered_at) AS opened_at
                FROM demands d JOIN demand_state_stays s ON s.demand_id = d.id AND s.state = 'open'
                WHERE \(conjunction(demandScope))
                GROUP BY d.id, d.sector
            ), cohort AS (
                -- NULL for a demand without a match (greatest() alone would turn NULL into 0).
                SELECT o.sector,
                       CASE WHEN f.first_match_at IS NOT NULL THEN greatest(0, extract(epoch FROM f.first_match_at - o.opened_at))::float8 END AS wait
                FROM opened o, LATERAL (SELECT min(m.created_at) AS first_match_at FROM matches m WHERE m.demand_id = o.id) AS f
                WHERE \(conjunction(openedScope))
            ), demand_figures AS (
                -- count(wait) and the percentiles skip the NULLs: they are over the matched demands.
                SELECT GROUPING(sector) = 1 AS overall, sector, count(*) AS opened, count(wait) AS matched,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY wait) AS p50,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY wait) AS p95
                FROM cohort
                GROUP BY GROUPING SETS ((sector), ())
            ), match_figures AS (
                SELECT GROUPING(d.sector) = 1 AS overall, d.sector, count(*) AS proposals,
                       count(*) FILTER (WHERE m.state = 'proposed') AS pending,
                       count(*) FILTER (WHERE m.state = 'accepted') AS accepted,
                       count(*) FILTER (WHERE m.state = 'declined') AS declined,
                       count(*) FILTER (WHERE m.state = 'withdrawn') AS withdrawn
                FROM matches m JOIN demands d ON d.id = m.demand_id
                WHERE \(conjunction(proposedScope))
                GROUP BY GROUPING SETS ((d.sector), ())
            )
            SELECT coalesce(df.overall, mf.overall), coalesce(df.sector, mf.sector),
                   coalesce(df.opened, 0), coalesce(df.matched, 0), df.p50, df.p95,
                   coalesce(mf.proposals, 0), coalesce(mf.pending, 0), coalesce(mf.accepted, 0), coalesce(mf.declined, 0),
                   coalesce(mf.withdrawn, 0)
            FROM demand_figures df
            FULL JOIN match_figures mf ON mf.overall = df.overall AND coalesce(mf.sector, '') = coalesce(df.sector, '')
            ORDER BY 1 DESC, 2
            """).decode(Bool.self, String?.self, Int.self, Int.self, Double?.self, Double?.self, Int.self, Int.self, Int.self, Int.self, Int.self)
        var overall = MatchStats(sector: nil, demandsOpened: 0, demandsMatched: 0, proposals: 0, pending: 0, accepted: 0, declined: 0, withdrawn: 0)
        var sectors: [MatchStats] = []
        for (isOverall, sectorCode, opened, matched, p50, p95, proposals, pending, accepted, declined, withdrawn) in rows {
            let figures = MatchStats(
                sector: isOverall ? nil : sectorCode, demandsOpened: opened, demandsMatched: matched,
                matchRate: opened == 0 ? nil : Double(matched) / Double(opened),
                firstMatchSecondsP50: p50, firstMatchSecondsP95: p95, proposals: proposals, pending: pending, accepted: accepted,
                declined: declined, withdrawn: withdrawn,
                acceptanceRate: accepted + declined == 0 ? nil : Double(accepted) / Double(accepted + declined))
            if isOverall { overall = figures } else { sectors.append(figures) }
        }
        return MatchStatsReport(since: since, overall: overall, sectors: sectors)
    }

    /// Matches that pass every filter given, newest first (equal times by id, descending); a demand's
    /// matches (`demandID`) best first (equal scores by id).
    public func matches(_ filter: MatchFilter = MatchFilter()) async throws -> [MatchSummary] {
        guard (1...MatchFilter.maximumLimit).contains(filter.limit) else {
            throw MarketInputError(field: "limit", rule: "must be from 1 to \(MatchFilter.maximumLimit), got \(filter.limit)")
        }
        try await checkSector(filter.sector)
        var conditions: [PostgresQuery] = []
        if let id = filter.demandID { conditions.append("m.demand_id = \(id)") }
        if let id = filter.productID { conditions.append("m.product_id = \(id)") }
        if let id = filter.demanderID { conditions.append("d.demander_id = \(id)") }
        if let id = filter.operatorID { conditions.append("p.operator_id = \(id)") }
        if let sector = filter.sector { conditions.append("d.sector = \(sector)") }
        if let state = filter.state { conditions.append("m.state = \(state.rawValue)::pdx_match_state") }
        if let since = filter.since { conditions.append("m.created_at >= \(since)") }
        // One demand's proposals: best first, as the demander weighs them; else newest first.
        let order: PostgresQuery = filter.demandID != nil ? "m.score DESC, m.id" : "m.created_at DESC, m.id DESC"
        let rows = try await query("""
            \(Self.summarySelect)
            WHERE \(conjunction(conditions))
            ORDER BY \(order)
            LIMIT \(filter.limit)
            """)
        return try rows.map { row in try Self.summary(row.decode(as: SummaryColumns.self)) }
    }

    /// One match with its reasons and quote; `MarketNotFound` when there is no such match.
    public func matchDetail(_ id: UUID) async throws -> MatchDetail {
        let rows = try await query("""
            SELECT \(unsafeRaw: Self.summaryColumns), m.state_reason, d.purpose::text AS purpose, d.budget_fen, m.reasons, m.quote
            \(unsafeRaw: Self.summaryFrom)
            WHERE m.id = \(id)
            """)
        guard let row = rows.first else { throw MarketNotFound("match", id) }
        let columns = try row.decode(as: DetailColumns.self)
        return MatchDetail(summary: try Self.summary(columns.summary), stateReason: columns.stateReason,
                           purpose: try Rows.known(columns.purpose, Purpose.self, "demands.purpose"), budgetFen: columns.budgetFen,
                           reasons: columns.reasons, quote: columns.quote)
    }

    /// The demand that found no product: demands still open and demands that expired or were cancelled,
    /// that never had a match, grouped by sector, scenario, regions and fields wanted, most demands
    /// first. Each group says which hard rule no listed product passes, and which wanted fields no listed
    /// product of the sector offers in those regions: what agencies should open next.
    /// - Parameters:
    ///   - since: only demands posted at or after this time.
    ///   - agency: only the demands on this agency's board (inside the sectors and regions of its resources
    ///     and grants): what it should open next.
    ///   - limit: at most this many groups (1 to 1000).
    public func demandGaps(since: Date? = nil, sector: String? = nil, agency: UUID? = nil, limit: Int = 200) async throws -> [DemandGap] {
        guard (1...1_000).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 1000, got \(limit)") }
        try await checkSector(sector)
        var conditions: [PostgresQuery] = []
        if let sector { conditions.append("d.sector = \(sector)") }
        if let since { conditions.append("d.created_at >= \(since)") }
        if let agency { conditions.append("pdx_board_visible(\(agency), 'agency', d.sector, d.regions)") }
        let rows = try await query("""
            WITH offer AS NOT MATERIALIZED (
                SELECT v.sector, v.regions, v.delivery_modes, v.fields, v.list_price_fen
                FROM products p
                JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
                JOIN authorizations a ON a.id = p.authorization_id
                WHERE p.state = 'listed' AND a.state = 'active' AND a.validity @> now()
            ), listed_per_sector AS MATERIALIZED (
                -- Counted once, not once per group.
                SELECT sector, count(*) AS listed FROM offer GROUP BY sector
            ), unserved AS (
                SELECT d.id, d.demander_id, d.title, d.sector, d.scenario, d.state, d.purpose, d.quantity, d.budget_fen,
                       d.delivery_modes, d.created_at,
                       ARRAY(SELECT r FROM unnest(d.regions) AS r ORDER BY r) AS regions,
                       ARRAY(SELECT f FROM unnest(d.fields_wanted) AS f ORDER BY f) AS fields
                FROM demands d
                WHERE d.state IN ('open', 'expired', 'cancelled')
                  AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.demand_id = d.id)
                  AND \(conjunction(conditions))
            ), diagnosed AS (
                SELECT u.*,
                       CASE
                           WHEN NOT EXISTS (SELECT 1 FROM listed_per_sector l WHERE l.sector = u.sector) THEN 0
                           WHEN NOT EXISTS (SELECT 1 FROM offer o WHERE o.sector = u.sector AND pdx_regions_overlap(o.regions, u.regions)) THEN 1
                           WHEN NOT EXISTS (SELECT 1 FROM offer o WHERE o.sector = u.sector AND pdx_regions_overlap(o.regions, u.regions)
                                                                    AND o.delivery_modes && u.delivery_modes) THEN 2
                           WHEN NOT EXISTS (SELECT 1 FROM offer o WHERE o.sector = u.sector AND pdx_regions_overlap(o.regions, u.regions)
                                                                    AND o.delivery_modes && u.delivery_modes
                                                                    AND (u.purpose IN ('public_governance', 'public_welfare')
                                                                         OR o.list_price_fen::numeric * u.quantity <= u.budget_fen)) THEN 3
                           ELSE 4
                       END AS stage
                FROM unserved u
            ), priced AS (
                SELECT d.*,
                       CASE WHEN d.stage = 3 THEN (SELECT min(o.list_price_fen::numeric * d.quantity) FROM offer o
                                                   WHERE o.sector = d.sector AND pdx_regions_overlap(o.regions, d.regions)
                                                     AND o.delivery_modes && d.delivery_modes) END AS cheapest
                FROM diagnosed d
            ), grouped AS (
                SELECT sector, scenario, regions, fields,
                       count(*) AS demands, count(DISTINCT demander_id) AS demanders,
                       count(*) FILTER (WHERE state = 'open') AS open,
                       count(*) FILTER (WHERE state = 'expired') AS expired,
                       count(*) FILTER (WHERE state = 'cancelled') AS cancelled,
                       sum(budget_fen) AS budget, min(created_at) AS oldest,
                       ARRAY[count(*) FILTER (WHERE stage = 0), count(*) FILTER (WHERE stage = 1), count(*) FILTER (WHERE stage = 2),
                             count(*) FILTER (WHERE stage = 3), count(*) FILTER (WHERE stage = 4)] AS stages,
                       (array_agg(title ORDER BY created_at, id))[1:3] AS examples,
                       min(cheapest) AS cheapest
                FROM priced
                GROUP BY sector, scenario, regions, fields
            )
            SELECT g.sector, s.name_zh, g.scenario, g.regions, g.fields, g.demands, g.demanders, g.open, g.expired, g.cancelled,
                   least(g.budget, 9223372036854775807)::int8 AS budget, g.oldest, g.stages,
                   ARRAY(SELECT f FROM unnest(g.fields) AS f
                         WHERE NOT EXISTS (SELECT 1 FROM offer o WHERE o.sector = g.sector AND pdx_regions_overlap(o.regions, g.regions) AND f = ANY (o.fields))
                         ORDER BY f) AS missing,
                   coalesce((SELECT l.listed FROM listed_per_sector l WHERE l.sector = g.sector), 0) AS listed_in_sector,
                   (SELECT count(*) FROM offer o WHERE o.sector = g.sector AND pdx_regions_overlap(o.regions, g.regions)) AS listed_in_region,
                   least(g.cheapest, 9223372036854775807)::int8 AS cheapest,
                   g.examples
            FROM grouped g JOIN sectors s ON s.code = g.sector
            ORDER BY g.demands DESC, g.demanders DESC, g.budget DESC, g.sector, g.scenario, g.regions, g.fields
            LIMIT \(limit)
            """)
        return try rows.map { row in
            let c = try row.decode(as: GapColumns.self)
            let diagnoses = zip(GapDiagnosis.byStage, c.stages).filter { $0.1 > 0 }.map { DemandGap.DiagnosisCount(diagnosis: $0.0, demands: Int($0.1)) }
            // The most common diagnosis; `max` keeps the first of equals, the earlier rule.
            let main = diagnoses.max { $0.demands < $1.demands }?.diagnosis ?? .passesHardRules
            return DemandGap(sector: c.sector, sectorName: c.nameZh, scenario: c.scenario, regions: c.regions, fieldsWanted: c.fields,
                             demands: c.demands, demanders: c.demanders, open: c.open, expired: c.expired, cancelled: c.cancelled,
                             totalBudgetFen: c.budget, oldest: c.oldest, diagnosis: main, diagnoses: diagnoses, missingFields: c.missing,
                             listedInSector: c.listedInSector, listedInRegion: c.listedInRegion, cheapestQuoteFen: c.cheapest,
                             examples: c.examples)
        }
    }

    /// Refuses a sector code that is not in the `sectors` table, listing the known ones.
    func checkSector(_ sector: String?) async throws {
        guard let sector else { return }
        let known = try await query("SELECT code FROM sectors ORDER BY code").decode(String.self)
        guard known.contains(sector) else {
            throw MarketInputError(field: "sector", rule: "must be one of \(known.joined(separator: ", ")), got '\(sector)'")
        }
    }
}

// MARK: Rows

extension MarketStore {
    static let summaryColumns = """
        m.id, m.created_at, m.state::text AS state, m.state_changed_at, m.score, m.quote_fen, d.sector,
        m.demand_id, d.title AS demand_title, d.demander_id, dp.name AS demander_name,
        m.product_id, m.product_version, v.title AS product_title, p.operator_id, op.name AS operator_name,
        (SELECT r FROM jsonb_array_elements(m.reasons) AS r
         ORDER BY CASE WHEN jsonb_typeof(r -> 'value') = 'number' AND jsonb_typeof(r -> 'weight') = 'number'
                       THEN (r ->> 'value')::float8 * (r ->> 'weight')::float8 END DESC NULLS LAST
         LIMIT 1) AS top_reason, m.proposed_by IS NOT NULL AS manual
        """
    static let summaryFrom = """
        FROM matches m
        JOIN demands d ON d.id = m.demand_id
        JOIN parties dp ON dp.id = d.demander_id
        JOIN products p ON p.id = m.product_id
        JOIN parties op ON op.id = p.operator_id
        JOIN product_versions v ON v.product_id = m.product_id AND v.version = m.product_version
        """
    static let summarySelect: PostgresQuery = "SELECT \(unsafeRaw: summaryColumns) \(unsafeRaw: summaryFrom)"

    static func summary(_ c: SummaryColumns) throws -> MatchSummary {
        MatchSummary(id: c.id, createdAt: c.createdAt, state: try Rows.known(c.state, MatchState.self, "matches.state"), stateChangedAt: c.stateChangedAt,
                     score: c.score, quoteFen: c.quoteFen, sector: c.sector, demandID: c.demandID, demandTitle: c.demandTitle,
                     demanderID: c.demanderID, demanderName: c.demanderName, productID: c.productID, productVersion: Int(c.productVersion),
                     productTitle: c.productTitle, operatorID: c.operatorID, operatorName: c.operatorName, topReason: c.topReason,
                     manual: c.manual)
    }
}

// Rows decoded by column name (camelCase properties match snake_case columns; jsonb columns go through JSONDecoder).
struct SummaryColumns: Decodable {
    var id: UUID, createdAt: Date, state: String, stateChangedAt: Date, score: Double, quoteFen: Int64, sector: String
    var demandID: UUID, demandTitle: String, demanderID: UUID, demanderName: String
    var productID: UUID, productVersion: Int32, productTitle: String, operatorID: UUID, operatorName: String
    var topReason: Matching.Reason?
    var manual: Bool

    enum CodingKeys: String, CodingKey {
        case id, createdAt, state, stateChangedAt, score, quoteFen, sector, demandTitle, demanderName, productVersion, productTitle
        case operatorName, topReason, manual
        case demandID = "demand_id", demanderID = "demander_id", productID = "product_id", operatorID = "operator_id"
    }
}

struct DetailColumns: Decodable {
    var summary: SummaryColumns
    var stateReason: String?, purpose: String, budgetFen: Int64
    var reasons: [Matching.Reason], quote: Quote

    init(from decoder: any Decoder) throws {
        summary = try SummaryColumns(from: decoder)
        let container = try decoder.container(keyedBy: Keys.self)
        stateReason = try container.decodeIfPresent(String.self, forKey: .stateReason)
        purpose = try container.decode(String.self, forKey: .purpose)
        budgetFen = try container.decode(Int64.self, forKey: .budgetFen)
        reasons = try container.decode([Matching.Reason].self, forKey: .reasons)
        quote = try container.decode(Quote.self, forKey: .quote)
    }

    enum Keys: String, CodingKey { case stateReason, purpose, budgetFen, reasons, quote }
}

struct GapColumns: Decodable {
    var sector: String, nameZh: String, scenario: String, regions: [String], fields: [String]
    var demands: Int, demanders: Int, open: Int, expired: Int, cancelled: Int, budget: Int64, oldest: Date, stages: [Int64]
    var missing: [String], listedInSector: Int, listedInRegion: Int, cheapest: Int64?, examples: [String]
}

/// `a AND b AND …`, or `TRUE` for no condition.
func conjunction(_ conditions: [PostgresQuery]) -> PostgresQuery {
    guard var result = conditions.first else { return "TRUE" }
    for condition in conditions.dropFirst() {
        result.append(" AND ")
        result.append(condition)
    }
    return result
}
