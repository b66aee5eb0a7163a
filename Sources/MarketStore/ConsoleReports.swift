public import Foundation
public import JobQueue
import Market
import Postgres

/// The market at a glance, over the last `days` UTC days (the console's overview).
public struct MarketOverview: Sendable, Equatable {
    /// A share of demands that got a proposal, by sector or by province.
    public struct Rate: Sendable, Equatable {
        public var code: String
        public var name: String
        /// Demands first opened in the window.
        public var opened: Int
        /// Of those, demands that got at least one proposal.
        public var matched: Int
    }

    /// Days, oldest first (`YYYY-MM-DD`), and per day: demands first opened, demands that got their first
    /// proposal, orders placed.
    public var days: [String]
    public var opened: [Int]
    public var matched: [Int]
    public var ordered: [Int]
    public var bySector: [Rate]
    /// By province (the first two digits of each region a demand names; a demand counts in each).
    public var byRegion: [Rate]
    /// Time from opening to the first proposal of demands opened in the window that got one, counted in
    /// `firstProposalBins` (upper bounds in seconds, the last open-ended).
    public var firstProposal: [Int]
    public var waitingForFirstProposal: Int
    /// Now: open or matched demands, listed products, live proposals, jobs waiting, retrying or running (not those scheduled for later).
    public var liveDemands: Int
    public var listedProducts: Int
    public var liveProposals: Int
    public var queuedJobs: Int

    /// The bins of `firstProposal`: up to 1 min, 5 min, 30 min, 2 h, 12 h, 2 days, 7 days, and beyond.
    public static let firstProposalBins: [Double] = [60, 300, 1_800, 7_200, 43_200, 172_800, 604_800]
}

/// One of an operator's products with its funnel totals over a window.
public struct OperatorProductSummary: Sendable, Equatable {
    public var id: UUID
    public var title: String
    public var state: String
    public var listPriceFen: Int64
    public var views: Int64
    public var proposals: Int
    public var orders: Int
    public var revenueFen: Int64
}

/// An operator's funnel per UTC day, all products together.
public struct OperatorDay: Sendable, Equatable {
    public var day: String
    public var views: Int64
    public var proposals: Int
    public var orders: Int
    public var revenueFen: Int64
}

/// A grant of an agency with what was built on it.
public struct GrantSummary: Sendable, Equatable {
    public var id: UUID
    public var operatorName: String
    public var sectors: [String]
    public var state: String
    public var stateReason: String?
    public var stateChangedAt: Date
    public var validUntil: Date
    public var products: Int
    public var listedProducts: Int
    public var orders: Int
    public var revenueFen: Int64
}

/// One row of the audit trail.
public struct AuditEvent: Sendable, Equatable {
    public var id: Int64
    public var at: Date
    public var actor: String
    public var action: String
    public var subjectType: String
    public var subjectID: String
    public var reason: String?
    public var before: String?
    public var after: String?
}

/// What the audit search looks for; every field optional.
public struct AuditQuery: Sendable, Equatable {
    public var actor: String?
    /// An action (`pricing.set`) or a prefix of actions (`pricing.`).
    public var action: String?
    public var subjectID: String?
    public var since: Date?
    public var until: Date?
    /// Older than this event id (the next page).
    public var before: Int64?
    public var limit: Int

    public init(actor: String? = nil, action: String? = nil, subjectID: String? = nil, since: Date? = nil, until: Date? = nil,
                before: Int64? = nil, limit: Int = 100) {
        self.actor = actor
        self.action = action
        self.subjectID = subjectID
        self.since = since
        self.until = until
        self.before = before
        self.limit = limit
    }
}

extension MarketStore {
    /// The overview over the last `days` days (1 to 366) up to today (UTC).
    public func marketOverview(days: Int = 30) async throws -> MarketOverview {
        guard (1...366).contains(days) else { throw MarketInputError(field: "days", rule: "must be from 1 to 366") }
        // The figures of now are counted at the same time, on another connection.
        async let counted = read { connection in
            try await connection.query("""
                SELECT (SELECT count(*) FROM demands WHERE state IN ('open', 'matched')),
                       (SELECT count(*) FROM products WHERE state = 'listed'),
                       (SELECT count(*) FROM matches WHERE state = 'proposed'),
                       (SELECT count(*) FROM pdx_jobs WHERE state IN ('available', 'retryable', 'running'))
                """).first.map { row in try row.decode(Int64.self, Int64.self, Int64.self, Int64.self) }
        }
        var overview = try await read { connection in
            let start = try await connection.query("""
                SELECT (date_trunc('day', now() AT TIME ZONE 'UTC') - make_interval(days => \(Int32(days - 1)))) AT TIME ZONE 'UTC'
                """).scalar(Date.self) ?? Date()
            var overview = MarketOverview(days: [], opened: [], matched: [], ordered: [], bySector: [], byRegion: [],
                                          firstProposal: Array(repeating: 0, count: MarketOverview.firstProposalBins.count + 1),
                                          waitingForFirstProposal: 0, liveDemands: 0, listedProducts: 0, liveProposals: 0, queuedJobs: 0)
            var index: [String: Int] = [:]
            for row in try await connection.query("""
                SELECT to_char(d, 'YYYY-MM-DD') FROM generate_series((\(start) AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date, interval '1 day') d
                """) {
                let day = try row.decode(String.self)
                index[day] = overview.days.count
                overview.days.append(day)
            }
            overview.opened = Array(repeating: 0, count: overview.days.count)
            overview.matched = overview.opened
            overview.ordered = overview.opened
            // Each demand first opened in the window (its milestones are on its row), once; then every figure of
            // the page grouped from that one set (a CTE used several times is computed once).
            let rows = try await connection.query("""
                WITH firsts AS MATERIALIZED (
                    SELECT (opened_at AT TIME ZONE 'UTC')::date AS opened_day, (first_proposed_at AT TIME ZONE 'UTC')::date AS first_day,
                           extract(epoch FROM first_proposed_at - opened_at)::float8 AS waited, sector,
                           CASE WHEN cardinality(regions) = 1 THEN ARRAY[left(regions[1], 2)]
                                ELSE ARRAY(SELECT DISTINCT left(r, 2) FROM unnest(regions) r) END AS provinces
                    FROM demands WHERE opened_at >= \(start)
                )
                SELECT 'opened', to_char(opened_day, 'YYYY-MM-DD'), n, 0::int8 FROM (SELECT opened_day, count(*) AS n FROM firsts GROUP BY 1) x
                UNION ALL
                SELECT 'matched', to_char(first_day, 'YYYY-MM-DD'), n, 0 FROM (SELECT first_day, count(*) AS n FROM firsts WHERE first_day IS NOT NULL GROUP BY 1) x
                UNION ALL
                SELECT 'sector', sector, count(*), count(first_day) FROM firsts GROUP BY 2
                UNION ALL
                SELECT 'region', p || '0000', count(*), count(first_day) FROM firsts, unnest(provinces) p GROUP BY 2
                UNION ALL
                SELECT 'wait', width_bucket(waited, \(MarketOverview.firstProposalBins))::text, count(*), 0 FROM firsts WHERE waited IS NOT NULL GROUP BY 2
                UNION ALL
                SELECT 'waiting', '', count(*), 0 FROM firsts WHERE first_day IS NULL
                UNION ALL
                SELECT 'ordered', to_char(day, 'YYYY-MM-DD'), n, 0 FROM (
                    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM orders WHERE created_at >= \(start) GROUP BY 1) x
                """)
            var sectors: [String: (Int, Int)] = [:], regions: [String: (Int, Int)] = [:]
            for row in rows {
                let (kind, key, a, b) = try row.decode(String.self, String.self, Int64.self, Int64.self)
                switch kind {
                case "opened": if let day = index[key] { overview.opened[day] = Int(a) }
                case "matched": if let day = index[key] { overview.matched[day] = Int(a) }
                case "ordered": if let day = index[key] { overview.ordered[day] = Int(a) }
                case "sector": sectors[key] = (Int(a), Int(b))
                case "region": regions[key] = (Int(a), Int(b))
                case "wait": if let bin = Int(key), overview.firstProposal.indices.contains(bin) { overview.firstProposal[bin] = Int(a) }
                case "waiting": overview.waitingForFirstProposal = Int(a)
                default: break
                }
            }
            let names = try await connection.query("SELECT code, name_zh FROM sectors").reduce(into: [String: String]()) { names, row in
                let (code, name) = try row.decode(String.self, String.self)
                names[code] = name
            }
            overview.bySector = sectors.map { MarketOverview.Rate(code: $0.key, name: names[$0.key] ?? $0.key, opened: $0.value.0, matched: $0.value.1) }
                .sorted { ($0.opened, $1.code) > ($1.opened, $0.code) }
            overview.byRegion = regions.map { MarketOverview.Rate(code: $0.key, name: $0.key, opened: $0.value.0, matched: $0.value.1) }
                .sorted { ($0.opened, $1.code) > ($1.opened, $0.code) }
            return overview
        }
        if let (demands, products, proposals, jobs) = try await counted {
            (overview.liveDemands, overview.listedProducts, overview.liveProposals, overview.queuedJobs) = (Int(demands), Int(products), Int(proposals), Int(jobs))
        }
        return overview
    }

    /// An operator's products (newest first, at most 500) with views, proposals, orders and revenue since `since`.
    public func operatorProducts(_ operatorID: UUID, since: Date) async throws -> [OperatorProductSummary] {
        try await query("""
            SELECT p.id, v.title, p.state::text, v.list_price_fen,
                   coalesce((SELECT sum(views) FROM product_views pv WHERE pv.product_id = p.id AND pv.day >= (\(since) AT TIME ZONE 'UTC')::date), 0)::int8,
                   (SELECT count(*) FROM matches m WHERE m.product_id = p.id AND m.created_at >= \(since)),
                   (SELECT count(*) FROM orders o WHERE o.product_id = p.id AND o.created_at >= \(since)),
                   coalesce((SELECT sum(amount_fen) FROM orders o WHERE o.product_id = p.id AND o.created_at >= \(since)
                             AND o.state IN ('accepted', 'delivered', 'completed')), 0)::int8
            FROM products p JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
            WHERE p.operator_id = \(operatorID)
            ORDER BY p.created_at DESC, p.id LIMIT 500
            """).map { row in
            let (id, title, state, price, views, proposals, orders, revenue) = try row.decode(
                UUID.self, String.self, String.self, Int64.self, Int64.self, Int64.self, Int64.self, Int64.self)
            return OperatorProductSummary(id: id, title: title, state: state, listPriceFen: price, views: views, proposals: Int(proposals),
                                          orders: Int(orders), revenueFen: revenue)
        }
    }

    /// An operator's funnel per UTC day from `since` to today, every day (zeros where nothing happened).
    public func operatorDays(_ operatorID: UUID, since: Date) async throws -> [OperatorDay] {
        try await query("""
            WITH days AS (
                SELECT d::date AS day FROM generate_series((\(since) AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date, interval '1 day') d
            ), mine AS (SELECT id FROM products WHERE operator_id = \(operatorID)
            ), viewed AS (
                SELECT day, sum(views) AS n FROM product_views WHERE product_id IN (SELECT id FROM mine) AND day >= (\(since) AT TIME ZONE 'UTC')::date GROUP BY day
            ), made AS (
                SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM matches
                WHERE product_id IN (SELECT id FROM mine) AND created_at >= \(since) GROUP BY 1
            ), ordered AS (
                SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n,
                       sum(amount_fen) FILTER (WHERE state IN ('accepted', 'delivered', 'completed')) AS revenue
                FROM orders WHERE product_id IN (SELECT id FROM mine) AND created_at >= \(since) GROUP BY 1
            )
            SELECT to_char(days.day, 'YYYY-MM-DD'), coalesce(viewed.n, 0)::int8, coalesce(made.n, 0), coalesce(ordered.n, 0),
                   coalesce(ordered.revenue, 0)::int8
            FROM days LEFT JOIN viewed USING (day) LEFT JOIN made USING (day) LEFT JOIN ordered USING (day) ORDER BY days.day
            """).map { row in
            let (day, views, proposals, orders, revenue) = try row.decode(String.self, Int64.self, Int64.self, Int64.self, Int64.self)
            return OperatorDay(day: day, views: views, proposals: Int(proposals), orders: Int(orders), revenueFen: revenue)
        }
    }

    /// An agency's grants (newest first, at most 500) with the products built on each and what they sold.
    public func agencyGrants(_ agencyID: UUID) async throws -> [GrantSummary] {
        try await query("""
            SELECT a.id, o.name, a.sectors, a.state::text,
                   (SELECT reason FROM audit_events e WHERE e.subject_type = 'authorization' AND e.subject_id = a.id::text
                    AND a.state IN ('suspended', 'revoked') ORDER BY e.id DESC LIMIT 1),
                   a.state_changed_at, upper(a.validity),
                   (SELECT count(*) FROM products p WHERE p.authorization_id = a.id),
                   (SELECT count(*) FROM products p WHERE p.authorization_id = a.id AND p.state = 'listed'),
                   (SELECT count(*) FROM orders r JOIN products p ON p.id = r.product_id WHERE p.authorization_id = a.id),
                   coalesce((SELECT sum(r.amount_fen) FROM orders r JOIN products p ON p.id = r.product_id
                             WHERE p.authorization_id = a.id AND r.state IN ('accepted', 'delivered', 'completed')), 0)::int8
            FROM authorizations a JOIN parties o ON o.id = a.operator_id
            WHERE a.agency_id = \(agencyID) ORDER BY a.created_at DESC, a.id LIMIT 500
            """).map { row in
            let (id, name, sectors, state, reason, changed, until) = try row.decode(
                UUID.self, String.self, [String].self, String.self, String?.self, Date.self, Date.self, at: 0)
            let (products, listed, orders, revenue) = try row.decode(Int64.self, Int64.self, Int64.self, Int64.self, at: 7)
            return GrantSummary(id: id, operatorName: name, sectors: sectors, state: state, stateReason: reason, stateChangedAt: changed,
                                validUntil: until, products: Int(products), listedProducts: Int(listed), orders: Int(orders), revenueFen: revenue)
        }
    }

    /// Audit events matching the query, newest first.
    public func auditEvents(_ search: AuditQuery) async throws -> [AuditEvent] {
        guard (1...1_000).contains(search.limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 1000") }
        try validateText(search.actor ?? "", field: "actor", maxLength: 200, required: false)
        try validateText(search.action ?? "", field: "action", maxLength: 100, required: false)
        try validateText(search.subjectID ?? "", field: "subject", maxLength: 200, required: false)
        let action = search.action.map { $0.hasSuffix(".") ? $0 : nil } ?? nil
        return try await query("""
            SELECT id, at, actor, action, subject_type, subject_id, reason, before::text, after::text FROM audit_events
            WHERE (\(search.actor)::text IS NULL OR actor = \(search.actor))
              AND (\(search.action)::text IS NULL OR (\(action)::text IS NULL AND action = \(search.action))
                   OR (\(action)::text IS NOT NULL AND starts_with(action, \(action))))
              AND (\(search.subjectID)::text IS NULL OR subject_id = \(search.subjectID))
              AND (\(search.since)::timestamptz IS NULL OR at >= \(search.since)) AND (\(search.until)::timestamptz IS NULL OR at < \(search.until))
              AND (\(search.before)::int8 IS NULL OR id < \(search.before))
            ORDER BY id DESC LIMIT \(Int32(search.limit))
            """).map { row in
            let (id, at, actor, action, type, subject) = try row.decode(Int64.self, Date.self, String.self, String.self, String.self, String.self, at: 0)
            let (reason, before, after) = try row.decode(String?.self, String?.self, String?.self, at: 6)
            return AuditEvent(id: id, at: at, actor: actor, action: action, subjectType: type, subjectID: subject, reason: reason, before: before, after: after)
        }
    }

    /// Makes a failed, scheduled or cancelled job available now (see `JobAdmin.retry`), recording who and why.
    /// Returns false when the job is not in a state that can be retried.
    public func retryJob(_ id: Int64, reason: String, by actor: Actor) async throws -> Bool {
        try validateText(reason, field: "reason", maxLength: 2000)
        return try await transaction { connection in
            guard try await JobAdmin.retry(id: id, on: connection) else { return false }
            try await connection.audit(actor, "job.retry", "job", id, reason: reason)
            return true
        }
    }

    /// Cancels a job that has not finished (see `JobAdmin.cancel`), recording who and why.
    public func cancelJob(_ id: Int64, reason: String, by actor: Actor) async throws -> Bool {
        try validateText(reason, field: "reason", maxLength: 2000)
        return try await transaction { connection in
            guard try await JobAdmin.cancel(id: id, reason: reason, on: connection) else { return false }
            try await connection.audit(actor, "job.cancel", "job", id, reason: reason)
            return true
        }
    }

    /// The queue's figures now and per hour over the last `hours` hours (see `JobAdmin`).
    public func queueActivity(hours: Int = 24) async throws -> (stats: [JobAdmin.QueueStats], hourly: JobAdmin.Hourly, failing: [JobAdmin.JobRecord]) {
        try await read { connection in
            let stats = try await JobAdmin.stats(on: connection)
            let hourly = try await JobAdmin.hourly(hours: hours, on: connection)
            let failing = try await JobAdmin.list(state: "retryable", limit: 50, on: connection)
                + JobAdmin.list(state: "discarded", limit: 50, on: connection)
            return (stats, hourly, failing)
        }
    }

    /// Adds views counted in memory to `product_views` (of today, UTC); views of a product that does not
    /// exist are dropped.
    public func addProductViews(_ views: [UUID: Int]) async throws {
        guard !views.isEmpty else { return }
        let ids = Array(views.keys), counts = ids.map { Int64(views[$0] ?? 0) }
        try await transaction { connection in
            _ = try await connection.execute("""
                INSERT INTO product_views (product_id, day, views)
                SELECT v.id, (now() AT TIME ZONE 'UTC')::date, v.n FROM unnest(\(ids), \(counts)) AS v(id, n)
                WHERE EXISTS (SELECT 1 FROM products p WHERE p.id = v.id)
                ON CONFLICT (product_id, day) DO UPDATE SET views = product_views.views + EXCLUDED.views
                """)
        }
    }
}
