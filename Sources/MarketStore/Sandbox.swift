public import Foundation
import JobQueue
public import Market
import MarketJobs
import Postgres

/// A sandbox product's dataset as buyers and auditors see it: its columns' roles, its privacy settings and
/// what is left of its budget (never a row).
public struct SandboxDataset: Sendable, Equatable {
    public var productID: UUID
    public var operatorID: UUID
    public var columns: [SandboxColumn]
    public var settings: SandboxSettings
    public var rowCount: Int64
    public var entityCount: Int64
    public var generation: Int
    public var loadedAt: Date
    /// The budget period now and the epsilon spent in it by every buyer.
    public var periodStartsAt: Date
    public var periodEndsAt: Date
    public var epsilonSpent: Double

    public var epsilonLeft: Double { max(0, settings.epsilonBudget - epsilonSpent) }
    var tableName: String
}

/// One analysis: what was asked, by whom, what it spent, and (when done) what it released.
public struct SandboxAnalysis: Sendable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable { case queued, running, done, failed }

    public var id: UUID
    public var productID: UUID
    public var entitlementID: UUID
    public var buyerID: UUID
    public var spec: SandboxAnalysisSpec
    public var epsilon: Double
    public var epsilonRefunded: Bool
    public var state: State
    public var failure: String?
    public var result: SandboxResult?
    public var groupsReleased: Int?
    /// Groups kept back for having fewer than k entities (the auditors' figure; buyers are not shown it).
    public var groupsSuppressed: Int?
    public var elapsedMilliseconds: Int?
    public var createdAt: Date
    public var finishedAt: Date?
}

/// A sandbox analysis refused before it was queued (the API answers 409 with `code`): `not_entitled`,
/// `entitlement_suspended`, `entitlement_ended`, `over_grant` or `budget_exhausted`.
public struct SandboxRefused: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: String
    public var description: String
}

/// The dataset was reloaded three times while an analysis tried to read it (its job tries again later).
public struct SandboxDatasetChanging: Error, CustomStringConvertible {
    public var productID: UUID
    public var description: String { "the sandbox dataset of product \(productID.uuidString.lowercased()) kept being reloaded" }
}

/// What running an analysis came to.
public enum SandboxRunOutcome: Sendable, Equatable {
    case done(released: Int, suppressed: Int)
    case failed(String)
    /// Already finished (a rerun after a crash, or a duplicate job).
    case nothingToDo
}

extension MarketStore {
    /// The channel an analysis's id is sent on when it finishes (at commit): for whoever waits on it.
    public static let sandboxChannel = "pdx_sandbox_analyses"

    static let sandboxAnalysisColumns = """
        a.id, a.product_id, a.entitlement_id, a.buyer_id, a.spec::text, a.epsilon, a.epsilon_refunded, a.state, a.failure, a.result::text,
        a.groups_released, a.groups_suppressed, a.elapsed_ms, a.created_at, a.finished_at
        """

    static func sandboxAnalysis(_ row: PostgresRow) throws -> SandboxAnalysis {
        let (id, product, entitlement, buyer, spec, epsilon, refunded, state) = try row.decode(
            UUID.self, UUID.self, UUID.self, UUID.self, String.self, Double.self, Bool.self, String.self, at: 0)
        let (failure, result, released, suppressed, elapsed, created, finished) = try row.decode(
            String?.self, String?.self, Int32?.self, Int32?.self, Int32?.self, Date.self, Date?.self, at: 8)
        let decoder = JSONDecoder()
        return SandboxAnalysis(
            id: id, productID: product, entitlementID: entitlement, buyerID: buyer,
            spec: try decoder.decode(SandboxAnalysisSpec.self, from: Data(spec.utf8)), epsilon: epsilon, epsilonRefunded: refunded,
            state: try Rows.known(state, SandboxAnalysis.State.self, "sandbox_analyses.state"), failure: failure,
            result: try result.map { try decoder.decode(SandboxResult.self, from: Data($0.utf8)) },
            groupsReleased: released.map(Int.init), groupsSuppressed: suppressed.map(Int.init), elapsedMilliseconds: elapsed.map(Int.init),
            createdAt: created, finishedAt: finished)
    }

    /// A product's sandbox dataset, or nil when none is loaded.
    public func sandboxDataset(of productID: UUID) async throws -> SandboxDataset? {
        try await read { connection in try await connection.sandboxDataset(productID, lock: false) }
    }

    /// Queues an analysis of a sandbox dataset for a buyer holding an entitlement in force to its product
    /// (`entitlementID`, or the buyer's latest one when nil). Refused before it runs when the spec breaks
    /// a column's role (`MarketInputError`), when the buyer is not entitled or out of units, or when its
    /// epsilon would overspend the dataset's budget for the period (`SandboxRefused`). The epsilon is spent
    /// now, in the transaction that queues it; the dataset's row lock orders concurrent spends.
    public func submitSandboxAnalysis(product productID: UUID, entitlement entitlementID: UUID?, spec: SandboxAnalysisSpec,
                                      buyer: UUID) async throws -> SandboxAnalysis {
        try await transaction { connection in
            guard let dataset = try await connection.sandboxDataset(productID, lock: true) else {
                throw MarketNotFound("sandbox dataset of product", productID)
            }
            _ = try SandboxPlan(spec, columns: dataset.columns, settings: dataset.settings)
            let candidates = try await connection.query("""
                SELECT \(unsafeRaw: Self.entitlementColumns) FROM entitlements e
                WHERE e.buyer_id = \(buyer) AND (e.id = \(entitlementID) OR (\(entitlementID)::uuid IS NULL AND e.product_id = \(productID)))
                ORDER BY (e.state = 'active' AND now() < e.ends_at) DESC, e.ends_at DESC LIMIT 1
                """).map(Self.entitlement)
            guard let entitlement = candidates.first else {
                if let entitlementID { throw MarketNotFound("entitlement", entitlementID) }
                throw SandboxRefused(code: "not_entitled", description: "you hold no entitlement to product \(productID.lowercased): order it first")
            }
            guard entitlement.productID == productID else {
                throw SandboxRefused(code: "not_entitled", description: "entitlement \(entitlement.id.lowercased) is to product \(entitlement.productID.lowercased), not \(productID.lowercased)")
            }
            let now = try await connection.now()
            if let refusal = entitlement.refusal(at: now) {
                throw SandboxRefused(code: refusal, description: "entitlement \(entitlement.id.lowercased) is \(refusal == "entitlement_suspended" ? "suspended" : "no longer in force")")
            }
            guard entitlement.startsAt <= now else {
                throw SandboxRefused(code: "not_entitled", description: "entitlement \(entitlement.id.lowercased) starts at \(iso8601(entitlement.startsAt))")
            }
            if let left = entitlement.unitsLeft {
                // Units are counted when an analysis finishes: those still queued or running hold one each.
                let pending = try await connection.query("""
                    SELECT count(*) FROM sandbox_analyses WHERE entitlement_id = \(entitlement.id) AND state IN ('queued', 'running')
                    """).scalar(Int64.self) ?? 0
                guard left - pending >= 1 else {
                    throw SandboxRefused(code: "over_grant", description: "entitlement \(entitlement.id.lowercased) has no \(entitlement.chargeUnit.rawValue) units left (\(pending) analyses still pending)")
                }
            }
            guard dataset.epsilonSpent + spec.epsilon <= dataset.settings.epsilonBudget + 1e-9 else {
                throw SandboxRefused(code: "budget_exhausted", description: String(
                    format: "this analysis would spend epsilon %.2f; the dataset has %.2f of its %.2f left until %@ (shared by every buyer)",
                    spec.epsilon, dataset.epsilonLeft, dataset.settings.epsilonBudget, iso8601(dataset.periodEndsAt)))
            }
            let id = UUID()
            let specJSON = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
            try await connection.execute("""
                INSERT INTO sandbox_analyses (id, product_id, entitlement_id, buyer_id, spec, epsilon, budget_period_start)
                VALUES (\(id), \(productID), \(entitlement.id), \(buyer), \(specJSON)::jsonb, \(spec.epsilon), \(dataset.periodStartsAt))
                """)
            try await connection.audit(.party(buyer), "sandbox_analysis.submitted", "sandbox_analysis", id, after: specJSON)
            try await connection.enqueue(try NewJob(SandboxAnalysisJob(analysisID: id), maxAttempts: 3))
            guard let analysis = try await connection.query("""
                SELECT \(unsafeRaw: Self.sandboxAnalysisColumns) FROM sandbox_analyses a WHERE a.id = \(id)
                """).map(Self.sandboxAnalysis).first else { throw MarketNotFound("sandbox analysis", id) }
            return analysis
        }
    }

    /// Runs a queued analysis (the `sandbox_analysis` job): reads the dataset as `pdx_sandbox_reader` in a
    /// read-only transaction with the dataset's timeout, releases noisy figures of the groups with at least
    /// k entities, stores the result, meters the use and tells the buyer's webhook. An analysis whose
    /// buyer is no longer entitled fails before it reads anything (its epsilon comes back); one that runs
    /// out of time fails with the epsilon spent.
    public func runSandboxAnalysis(_ id: UUID) async throws -> SandboxRunOutcome {
        let started = try await transaction { connection -> (SandboxAnalysis, Entitlement)? in
            guard let analysis = try await connection.query("""
                UPDATE sandbox_analyses a SET state = 'running', started_at = now() WHERE a.id = \(id) AND a.state IN ('queued', 'running')
                RETURNING \(unsafeRaw: Self.sandboxAnalysisColumns)
                """).map(Self.sandboxAnalysis).first else { return nil }
            let entitlement = try await connection.query("SELECT \(unsafeRaw: Self.entitlementColumns) FROM entitlements e WHERE e.id = \(analysis.entitlementID)")
                .map(Self.entitlement).first
            guard let entitlement else { throw MarketNotFound("entitlement", analysis.entitlementID) }
            return (analysis, entitlement)
        }
        guard let (analysis, entitlement) = started else { return .nothingToDo }
        let now = try await self.now()
        if let refusal = entitlement.refusal(at: now) {
            return try await finishSandboxAnalysis(analysis, failure: "\(refusal) before the analysis ran: nothing was read and its epsilon is back", refund: true)
        }
        var clock = ContinuousClock.now
        var truths: [SandboxGroupTruth]?
        var read: (SandboxDataset, SandboxPlan)?
        do {
            // A reload between reading the columns and locking the table is seen (the generation moved) and read again.
            for _ in 0..<3 where truths == nil {
                guard let dataset = try await sandboxDataset(of: analysis.productID) else {
                    throw MarketNotFound("sandbox dataset of product", analysis.productID)
                }
                let plan: SandboxPlan
                do {
                    plan = try SandboxPlan(analysis.spec, columns: dataset.columns, settings: dataset.settings)
                } catch {
                    return try await finishSandboxAnalysis(analysis, failure: "the dataset was reloaded and no longer fits the analysis (\(error)); its epsilon is back", refund: true)
                }
                clock = ContinuousClock.now
                read = (dataset, plan)
                truths = try await pool.withTransaction(readOnly: true) { connection in
                    try await connection.sandboxTruths(plan, dataset: dataset)
                }
            }
        } catch let error as PostgresError where error.code?.rawValue == "57014" {
            let limit = read.map { "\($0.0.settings.timeoutMilliseconds) ms" } ?? "the time"
            return try await finishSandboxAnalysis(analysis, failure: "timed out after \(limit) (the dataset's limit); its epsilon stays spent", refund: false)
        } catch let error as PostgresError where error.code?.rawValue == "53200" || error.code?.rawValue == "53100" {
            return try await finishSandboxAnalysis(analysis, failure: "ran out of memory or disk (\(error.message)); its epsilon stays spent", refund: false)
        }
        guard let truths, let (dataset, plan) = read else { throw SandboxDatasetChanging(productID: analysis.productID) }
        var generator = SystemRandomNumberGenerator()
        let (result, suppressed) = plan.release(truths, using: &generator)
        let elapsed = Int((ContinuousClock.now - clock) / .milliseconds(1))
        return try await finishSandboxAnalysis(analysis, result: result, suppressed: suppressed, generation: dataset.generation, elapsed: elapsed,
                                               seller: dataset.operatorID, metered: entitlement.unitsGranted != nil)
    }

    /// Ends an analysis that could not run (its job's last attempt failed): nothing was released, so its epsilon comes back.
    public func failSandboxAnalysis(_ id: UUID, because reason: String) async throws -> SandboxRunOutcome {
        guard let analysis = try await query("SELECT \(unsafeRaw: Self.sandboxAnalysisColumns) FROM sandbox_analyses a WHERE a.id = \(id)")
            .map(Self.sandboxAnalysis).first else { return .nothingToDo }
        return try await finishSandboxAnalysis(analysis, failure: "\(reason); nothing was released and its epsilon is back", refund: true)
    }

    private func finishSandboxAnalysis(_ analysis: SandboxAnalysis, failure: String, refund: Bool) async throws -> SandboxRunOutcome {
        try await transaction { connection in
            guard try await connection.execute("""
                UPDATE sandbox_analyses SET state = 'failed', failure = \(failure), epsilon_refunded = \(refund), finished_at = now()
                WHERE id = \(analysis.id) AND state IN ('queued', 'running')
                """) == 1 else { return .nothingToDo }
            try await connection.audit(.system, "sandbox_analysis.failed", "sandbox_analysis", analysis.id, reason: failure,
                                       after: #"{"epsilon_refunded":\#(refund)}"#)
            try await connection.notifySandboxBuyer(analysis, type: "sandbox_analysis.failed")
            return .failed(failure)
        }
    }

    private func finishSandboxAnalysis(_ analysis: SandboxAnalysis, result: SandboxResult, suppressed: Int, generation: Int, elapsed: Int,
                                       seller: UUID, metered: Bool) async throws -> SandboxRunOutcome {
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        return try await inOneTransaction {
            let finished = try await self.transaction { connection in
                guard try await connection.execute("""
                    UPDATE sandbox_analyses SET state = 'done', result = \(json)::jsonb, groups_released = \(result.groups.count),
                        groups_suppressed = \(suppressed), dataset_generation = \(generation), elapsed_ms = \(elapsed), finished_at = now()
                    WHERE id = \(analysis.id) AND state IN ('queued', 'running')
                    """) == 1 else { return false }
                try await connection.audit(.system, "sandbox_analysis.done", "sandbox_analysis", analysis.id, after: """
                    {"epsilon":\(analysis.epsilon),"groups_released":\(result.groups.count),"groups_suppressed":\(suppressed),"dataset_generation":\(generation)}
                    """)
                try await connection.notifySandboxBuyer(analysis, type: "sandbox_analysis.ready")
                return true
            }
            guard finished else { return .nothingToDo }
            if metered {
                // One call of the entitlement's unit, billed like any usage the operator reports (the same id once).
                _ = try await self.recordUsage([UsageEvent(eventID: "sandbox:\(analysis.id.lowercased)", entitlementID: analysis.entitlementID,
                                                           units: 1, occurredAt: try await self.now())], seller: seller)
            }
            return .done(released: result.groups.count, suppressed: suppressed)
        }
    }

    /// Whether `party` may see a product's sandbox dataset: listed products' to anyone, others' to their operator, their
    /// agency and those holding an entitlement to them.
    public func sandboxDatasetVisible(_ product: UUID, to party: UUID) async throws -> Bool {
        try await query("""
            SELECT EXISTS (SELECT FROM products p JOIN authorizations z ON z.id = p.authorization_id
                           WHERE p.id = \(product) AND (p.state = 'listed' OR \(party) IN (p.operator_id, z.agency_id)
                                 OR EXISTS (SELECT FROM entitlements e WHERE e.product_id = p.id AND e.buyer_id = \(party))))
            """).scalar(Bool.self) ?? false
    }

    /// Whether `party` is a product's operator or the agency of the authorization it rests on.
    public func supervises(_ party: UUID, product: UUID) async throws -> Bool {
        try await query("""
            SELECT EXISTS (SELECT FROM products p JOIN authorizations z ON z.id = p.authorization_id
                           WHERE p.id = \(product) AND \(party) IN (p.operator_id, z.agency_id))
            """).scalar(Bool.self) ?? false
    }

    /// An analysis, for its buyer, the product's operator, the agency it rests on, or (with nil) an administrator.
    public func sandboxAnalysis(_ id: UUID, for party: UUID? = nil) async throws -> SandboxAnalysis {
        guard let analysis = try await query("""
            SELECT \(unsafeRaw: Self.sandboxAnalysisColumns) FROM sandbox_analyses a
            JOIN products p ON p.id = a.product_id JOIN authorizations z ON z.id = p.authorization_id
            WHERE a.id = \(id) AND (\(party)::uuid IS NULL OR \(party) IN (a.buyer_id, p.operator_id, z.agency_id))
            """).map(Self.sandboxAnalysis).first else { throw MarketNotFound("sandbox analysis", id) }
        return analysis
    }

    /// Analyses newest first: a buyer's own, those of an operator's datasets, those of datasets resting on an
    /// agency's grants (`party`), or all (nil, administrators); optionally of one product.
    public func sandboxAnalyses(for party: UUID?, product: UUID? = nil, before: Date? = nil, limit: Int = 50) async throws -> [SandboxAnalysis] {
        try await query("""
            SELECT \(unsafeRaw: Self.sandboxAnalysisColumns) FROM sandbox_analyses a
            JOIN products p ON p.id = a.product_id JOIN authorizations z ON z.id = p.authorization_id
            WHERE (\(party)::uuid IS NULL OR \(party) IN (a.buyer_id, p.operator_id, z.agency_id))
              AND (\(product)::uuid IS NULL OR a.product_id = \(product))
              AND a.created_at < coalesce(\(before)::timestamptz, 'infinity')
            ORDER BY a.created_at DESC, a.id LIMIT \(min(max(limit, 1), 1000))
            """).map(Self.sandboxAnalysis)
    }
}

extension PostgresConnection {
    func sandboxDataset(_ productID: UUID, lock: Bool) async throws -> SandboxDataset? {
        guard let row = try await query("""
            SELECT d.operator_id, d.table_name, d.generation, d.min_entities, d.epsilon_budget, d.budget_period, d.max_groups_per_entity,
                   d.timeout_ms, d.row_count, d.entity_count, d.loaded_at,
                   date_trunc(d.budget_period, now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                   (date_trunc(d.budget_period, now() AT TIME ZONE 'UTC') + ('1 ' || d.budget_period)::interval) AT TIME ZONE 'UTC'
            FROM sandbox_datasets d WHERE d.product_id = \(productID) \(unsafeRaw: lock ? "FOR UPDATE" : "")
            """).first else { return nil }
        let (operatorID, table, generation, k, budget, period, groups, timeout) = try row.decode(
            UUID.self, String.self, Int32.self, Int32.self, Double.self, String.self, Int32.self, Int32.self, at: 0)
        let (rows, entities, loaded, starts, ends) = try row.decode(Int64.self, Int64.self, Date.self, Date.self, Date.self, at: 8)
        let spent = try await query("""
            SELECT coalesce(sum(epsilon), 0)::float8 FROM sandbox_analyses
            WHERE product_id = \(productID) AND budget_period_start = \(starts) AND NOT epsilon_refunded
            """).scalar(Double.self) ?? 0
        let columns = try await query("""
            SELECT name, role, type, lower, upper, entity_stable FROM sandbox_columns WHERE product_id = \(productID) ORDER BY position
            """).decode(String.self, String.self, String.self, Double?.self, Double?.self, Bool?.self).map { name, role, type, lower, upper, stable in
            SandboxColumn(name: name, role: try Rows.known(role, SandboxColumnRole.self, "sandbox_columns.role"),
                          type: try Rows.known(type, SandboxColumnType.self, "sandbox_columns.type"), lower: lower, upper: upper, entityStable: stable)
        }
        let settings = SandboxSettings(minEntities: Int(k), epsilonBudget: budget,
                                       budgetPeriod: try Rows.known(period, SandboxSettings.Period.self, "sandbox_datasets.budget_period"),
                                       maxGroupsPerEntity: Int(groups), timeoutMilliseconds: Int(timeout))
        return SandboxDataset(productID: productID, operatorID: operatorID, columns: columns, settings: settings, rowCount: rows,
                              entityCount: entities, generation: Int(generation), loadedAt: loaded, periodStartsAt: starts, periodEndsAt: ends,
                              epsilonSpent: spent, tableName: table)
    }

    func notifySandboxBuyer(_ analysis: SandboxAnalysis, type: String) async throws {
        try await notify(channel: MarketStore.sandboxChannel, payload: analysis.id.uuidString.lowercased())
        let hooked = try await query("SELECT id FROM parties WHERE id = \(analysis.buyerID) AND webhook_url IS NOT NULL").decode(UUID.self)
        try await enqueueNotifications(.sandboxAnalysis(analysisID: analysis.id, type: type), to: hooked)
    }

    /// The true figures of an analysis's groups, read in the caller's read-only transaction as
    /// `pdx_sandbox_reader`, under the dataset's timeout and a memory limit. Every value from the spec is a
    /// bound parameter; column names are the table's own `c<position>`.
    func sandboxTruths(_ plan: SandboxPlan, dataset: SandboxDataset) async throws -> [SandboxGroupTruth]? {
        // The load swapping tables waits for this (and this for it), so the table read is the one named; a load that
        // committed since the columns were read is seen here (nil: read them again).
        _ = try await query("SELECT pg_advisory_xact_lock_shared(\(MarketStore.sandboxLockKey(dataset.productID)))")
        let current = try await query("SELECT table_name, generation FROM sandbox_datasets WHERE product_id = \(dataset.productID)")
            .decode(String.self, Int32.self).first
        guard let (table, generation) = current else { throw MarketNotFound("sandbox dataset of product", dataset.productID) }
        guard Int(generation) == dataset.generation else { return nil }
        try await execute("SELECT set_config('statement_timeout', \(String(dataset.settings.timeoutMilliseconds)), true)")
        try await execute("SET LOCAL work_mem = '64MB'")
        // The table is in entity order with a covering index on (entity, dimensions…): grouping by entity streams from it
        // in parallel, where hashing a million rows would not.
        try await execute("SET LOCAL enable_hashagg = off")
        try await execute("SET LOCAL parallel_setup_cost = 10")
        try await execute("SET LOCAL parallel_tuple_cost = 0.001")
        try await execute("SET LOCAL search_path = pg_catalog")
        try await execute("SET LOCAL ROLE pdx_sandbox_reader")
        let groups = plan.groupBy.enumerated().map { "c\($0.element + 1) AS g\($0.offset)" }
        let keys = plan.groupBy.indices.map { "g\($0)" }
        var filters: [PostgresQuery] = []
        for filter in plan.filters {
            let column = "c\(filter.column + 1)"
            filters.append(try Self.sandboxFilter(column, filter))
        }
        var whereClause: PostgresQuery = filters.isEmpty ? "" : "WHERE "
        for (index, filter) in filters.enumerated() {
            if index > 0 { whereClause.append(" AND ") }
            whereClause.append(filter)
        }
        let sums = plan.summed.enumerated().map { "sum(c\($0.element + 1)) AS s\($0.offset)" }
        var bounded: PostgresQuery = "SELECT \(unsafeRaw: (keys + ["entity"]).joined(separator: ", "))"
        for (offset, column) in plan.summed.enumerated() {
            let lower: Double = plan.columns[column].lower ?? 0, upper: Double = plan.columns[column].upper ?? 0
            bounded.append(", least(greatest(coalesce(s\(unsafeRaw: String(offset)), 0), \(lower)), \(upper)) AS v\(unsafeRaw: String(offset))")
        }
        // Each entity counts in at most max_groups_per_entity groups, chosen at random among its own.
        // (Nothing to cut when each entity falls in one group.)
        bounded.append(plan.entitiesMaySpanGroups ? ", row_number() OVER (PARTITION BY entity ORDER BY random()) AS pick" : ", 1 AS pick")
        var base: PostgresQuery = """
            WITH per_entity AS (
                SELECT \(unsafeRaw: (["entity"] + groups + sums).joined(separator: ", "))
                FROM pdx_sandbox.\(identifier: table) \(whereClause)
                GROUP BY \(unsafeRaw: (["entity"] + plan.groupBy.map { "c\($0 + 1)" }).joined(separator: ", "))
            ), bounded AS (
            """
        base.append(bounded)
        base.append(" FROM per_entity) ")
        let limit = Int64(plan.settings.maxGroupsPerEntity)
        let keyText = keys.map { "\($0)::text" }
        var main = base
        main.append("""
            SELECT \(unsafeRaw: (keyText + ["count(*)::int8"] + plan.summed.indices.map { "sum(v\($0))::float8" }).joined(separator: ", "))
            FROM bounded WHERE pick <= \(limit) \(unsafeRaw: keys.isEmpty ? "" : "GROUP BY \(keys.joined(separator: ", "))")
            """)
        var truths: [[SandboxValue?]: SandboxGroupTruth] = [:]
        for row in try await query(main) {
            var key: [SandboxValue?] = []
            for index in plan.groupBy.indices { key.append(Self.sandboxKey(try row.decode(String?.self, at: index), plan.columns[plan.groupBy[index]].type)) }
            let count = try row.decode(Int64.self, at: keys.count)
            var sums: [Double] = []
            for offset in plan.summed.indices {
                let sum: Double? = try row.decode(Double?.self, at: keys.count + 1 + offset)
                sums.append(sum ?? 0)
            }
            truths[key] = SandboxGroupTruth(keys: key, entities: Int(count), sums: sums,
                                            histograms: Array(repeating: Array(repeating: 0, count: SandboxPlan.histogramBins), count: plan.histogrammed.count))
        }
        for (offset, column) in plan.histogrammed.enumerated() {
            guard let summed = plan.summed.firstIndex(of: column) else { continue }
            let lower: Double = plan.columns[column].lower ?? 0, upper: Double = plan.columns[column].upper ?? 0
            let bins = Int32(SandboxPlan.histogramBins)
            var histogram = base
            histogram.append("""
                SELECT \(unsafeRaw: (keyText + [""]).joined(separator: ", "))least(width_bucket(v\(unsafeRaw: String(summed)), \(lower),
                    \(upper), \(bins)), \(bins))::int4, count(*)::int8
                FROM bounded WHERE pick <= \(limit) GROUP BY \(unsafeRaw: (keys + ["\(keys.count + 1)"]).joined(separator: ", "))
                """)
            for row in try await query(histogram) {
                var key: [SandboxValue?] = []
                for index in plan.groupBy.indices { key.append(Self.sandboxKey(try row.decode(String?.self, at: index), plan.columns[plan.groupBy[index]].type)) }
                let (bin, count) = try row.decode(Int32.self, Int64.self, at: keys.count)
                guard (1...SandboxPlan.histogramBins).contains(Int(bin)) else { continue }
                truths[key]?.histograms[offset][Int(bin) - 1] += Int(count)
            }
        }
        return Array(truths.values)
    }

    private static func sandboxKey(_ text: String?, _ type: SandboxColumnType) -> SandboxValue? {
        guard let text else { return nil }
        if type == .integer, let number = Int64(text) { return .integer(number) }
        return .text(text)
    }

    /// One filter as SQL on `column`, its values bound with the column's type.
    private static func sandboxFilter(_ column: String, _ filter: SandboxPlan.Filter) throws -> PostgresQuery {
        func date(_ value: SandboxValue) throws -> CalendarDate {
            guard let date = CalendarDate(value.description) else { throw MarketInputError(field: "filters", rule: "must be a date, YYYY-MM-DD") }
            return date
        }
        func one(_ value: SandboxValue) throws -> PostgresQuery {
            switch (filter.type, value) {
            case (.integer, .integer(let number)): "\(number)"
            case (.date, _): "\(try date(value))"
            default: "\(value.description)"
            }
        }
        func list(_ values: [SandboxValue]) throws -> PostgresQuery {
            switch filter.type {
            case .integer: "\(values.compactMap { if case .integer(let n) = $0 { n } else { nil } })"
            case .date: "\(try values.map(date))"
            case .text, .number: "\(values.map(\.description))"
            }
        }
        var sql = PostgresQuery(unsafeSQL: column)
        switch filter.op {
        case .eq: sql.append(" = "); sql.append(try one(filter.values[0]))
        case .ne: sql.append(" <> "); sql.append(try one(filter.values[0]))
        case .gte: sql.append(" >= "); sql.append(try one(filter.values[0]))
        case .lte: sql.append(" <= "); sql.append(try one(filter.values[0]))
        case .in: sql.append(" = ANY("); sql.append(try list(filter.values)); sql.append(")")
        case .notIn: sql.append(" <> ALL("); sql.append(try list(filter.values)); sql.append(")")
        case .between:
            sql.append(" BETWEEN "); sql.append(try one(filter.values[0])); sql.append(" AND "); sql.append(try one(filter.values[1]))
        }
        return sql
    }
}
