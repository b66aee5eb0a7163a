public import Foundation
public import Market
import JobQueue
import Postgres
import MarketJobs

/// A stored pricing rule version with who made it and why.
public struct PricingRuleRecord: Sendable, Equatable {
    public var rule: PricingRule
    public var author: String
    public var reason: String
    public var createdAt: Date
}

extension MarketStore {
    /// The notice period's floor and ceiling, in days (`market_settings`, sql/0015_price_notice.sql).
    public static let noticeDays = 30...365

    /// How long a change that can raise a price waits before it takes effect (an administrator's setting).
    public func priceNoticePeriod() async throws -> TimeInterval {
        try await read { connection in try await connection.priceNoticePeriod() }
    }

    /// Sets the notice period, from 30 to 365 days; it applies to changes made from now on (an announced
    /// change keeps its time). Audited.
    public func setPriceNoticePeriod(days: Int, author: String, reason: String) async throws {
        guard Self.noticeDays.contains(days) else {
            throw MarketInputError(field: "price_notice_days", rule: "must be from \(Self.noticeDays.lowerBound) to \(Self.noticeDays.upperBound) days")
        }
        try validateText(author, field: "actor", maxLength: 200)
        try validateText(reason, field: "reason", maxLength: 2000)
        try await transaction { connection in
            let before = try await connection.query("SELECT price_notice_days FROM market_settings FOR UPDATE").scalar(Int32.self) ?? 30
            try await connection.execute("""
                UPDATE market_settings SET price_notice_days = \(Int32(days)), updated_by = \(author), updated_at = now()
                """)
            try await connection.audit(.init(author), "settings.price_notice", "settings", "market", reason: reason,
                                       before: #"{"price_notice_days":\#(before)}"#, after: #"{"price_notice_days":\#(days)}"#)
        }
    }

    /// Adds a rule (version 1). A rule that can raise a quote where none applied (tiers, a usage plan)
    /// takes effect after the notice period; any other at once, or at `effectiveAt` if later.
    public func addPricingRule(_ kind: PricingRule.Kind, scope: PricingRule.Scope = .init(), reviewBy: Date, effectiveAt: Date? = nil,
                               author: String, reason: String) async throws -> PricingRule {
        try validateText(author, field: "actor", maxLength: 200)
        try validateText(reason, field: "reason", maxLength: 2000)
        return try await transaction { connection in
            let now = try await connection.now()
            let draft = PricingRule(id: 0, version: 1, kind: kind, scope: scope, effectiveAt: now, reviewBy: reviewBy)
            let change = try await connection.scopeChange(from: nil, to: scope)
            let earliest = Pricing.earliestEffectiveTime(of: draft, inForce: nil, scope: change, now: now,
                                                         notice: try await connection.priceNoticePeriod())
            let effective = try Self.effectiveTime(effectiveAt, earliest: earliest, now: now)
            var added = PricingRule(id: 0, version: 1, kind: kind, scope: scope, effectiveAt: effective, reviewBy: reviewBy)
            try added.validate()
            added.id = try await connection.query("INSERT INTO pricing_rules (kind) VALUES (\(kind.name)) RETURNING id").scalar(Int64.self) ?? 0
            try await connection.insertRuleVersion(added, author: author, reason: reason)
            try await connection.audit(.init(author), "pricing.add", "pricing_rule", added.id, reason: reason, after: try json(added))
            try await connection.enqueueRepricing(added.id, at: added.effectiveAt)
            return added
        }
    }

    /// Makes a new version of a rule. A version that can raise some quote against the one in force now
    /// (its terms, or products leaving or entering its scope) takes effect after the notice period; an
    /// earlier `effectiveAt` is refused. Any other takes effect at once, or at `effectiveAt` if later.
    @discardableResult
    public func setPricingRule(_ id: Int64, kind: PricingRule.Kind, scope: PricingRule.Scope, reviewBy: Date, effectiveAt: Date? = nil,
                               author: String, reason: String) async throws -> PricingRule {
        try validateText(author, field: "actor", maxLength: 200)
        try validateText(reason, field: "reason", maxLength: 2000)
        return try await transaction { connection in
            let now = try await connection.now()
            let versions = try await connection.ruleVersions(id, lock: true).map(\.rule)
            guard let latest = versions.last else { throw MarketInputError(field: "rule", rule: "no pricing rule \(id); list them with 'pdxctl pricing list'") }
            if let retired = latest.retiredAt {
                throw TransitionRefused(subject: "pricing rule", from: retired > now ? "retiring on \(iso8601(retired))" : "retired", to: "changed", allowed: [])
            }
            guard kind.name == latest.kind.name else {
                throw MarketInputError(field: "kind", rule: "must stay \(latest.kind.name); retire this rule and add another to change its kind")
            }
            let draft = PricingRule(id: id, version: latest.version + 1, kind: kind, scope: scope, effectiveAt: now, reviewBy: reviewBy)
            let inForce = Pricing.rulesInForce(versions, at: now).first
            let change = try await connection.scopeChange(from: inForce?.scope, to: scope)
            let earliest = Pricing.earliestEffectiveTime(of: draft, inForce: inForce, scope: change, now: now,
                                                         notice: try await connection.priceNoticePeriod())
            var rule = draft
            rule.effectiveAt = try Self.effectiveTime(effectiveAt, earliest: earliest, now: now)
            try rule.validate()
            try await connection.insertRuleVersion(rule, author: author, reason: reason)
            try await connection.audit(.init(author), "pricing.set", "pricing_rule", id, reason: reason,
                                       before: try json(latest), after: try json(rule))
            try await connection.enqueueRepricing(id, at: rule.effectiveAt)
            return rule
        }
    }

    /// Retires a rule. Taking away a rule in force can raise quotes (a cap stops clamping, a discount
    /// stops applying), so the retirement takes effect after the notice period, and the rule applies
    /// until then; a rule nobody pays by yet (all its versions announced for later), or the exemption
    /// (which the law applies anyway), retires at once. Returns when it stops applying.
    @discardableResult
    public func retirePricingRule(_ id: Int64, author: String, reason: String) async throws -> Date {
        try validateText(author, field: "actor", maxLength: 200)
        try validateText(reason, field: "reason", maxLength: 2000)
        return try await transaction { connection in
            let versions = try await connection.ruleVersions(id, lock: true).map(\.rule)
            guard let latest = versions.last else {
                throw MarketInputError(field: "rule", rule: "no pricing rule \(id); list them with 'pdxctl pricing list'")
            }
            let now = try await connection.now()
            if let retired = latest.retiredAt {
                throw TransitionRefused(subject: "pricing rule", from: retired > now ? "retiring on \(iso8601(retired))" : "retired",
                                        to: "retired", allowed: [])
            }
            let inForce = Pricing.rulesInForce(versions, at: now).first
            var raises = false
            if let inForce, inForce.kind.canRaiseWhereRemoved {
                raises = try await connection.scopeChange(from: inForce.scope, to: nil).losesProducts
            }
            let retiredAt = raises ? now + (try await connection.priceNoticePeriod()) : now
            try await connection.execute("""
                UPDATE pricing_rules SET retired_at = \(retiredAt), retired_by = \(author), retired_reason = \(reason) WHERE id = \(id)
                """)
            try await connection.audit(.init(author), "pricing.retire", "pricing_rule", id, reason: reason,
                                       after: #"{"retired_at":"\#(iso8601(retiredAt))"}"#)
            try await connection.enqueueRepricing(id, at: retiredAt)
            return retiredAt
        }
    }

    /// `requested` (or `earliest` when nil), refused when it is sooner than `earliest` or in the past.
    static func effectiveTime(_ requested: Date?, earliest: Date, now: Date) throws(MarketInputError) -> Date {
        guard let requested else { return earliest }
        guard requested >= now - 60 else { throw MarketInputError(field: "effective_at", rule: "must not be in the past") }
        guard requested >= earliest - 1 else {
            let days = Int(((earliest.timeIntervalSince(now)) / 86_400).rounded())
            throw MarketInputError(field: "effective_at", rule: "must be at least \(days) days ahead: this change can raise prices, and increases wait for the notice period")
        }
        return requested
    }

    /// Every version of every rule (what `Pricing.rulesInForce` chooses from).
    public func pricingRuleVersions() async throws -> [PricingRule] {
        try await read { connection in try await connection.allRuleVersions() }
    }

    /// A rule's versions, oldest first, with their authors and reasons.
    public func pricingRuleHistory(_ id: Int64) async throws -> [PricingRuleRecord] {
        let history = try await read { connection in try await connection.ruleVersions(id, lock: false) }
        guard !history.isEmpty else { throw MarketInputError(field: "rule", rule: "no pricing rule \(id); list them with 'pdxctl pricing list'") }
        return history
    }

    /// The quote a buyer would get now for a quantity of a product's current version.
    public func quote(product productID: UUID, quantity: Int64, purpose: Purpose, buyer buyerID: UUID, scenario: String? = nil) async throws -> Quote {
        try await read { connection in
            try await connection.quote(productID: productID, quantity: quantity, purpose: purpose, buyerID: buyerID, scenario: scenario)
        }
    }
}

extension Actor {
    /// Pricing rules are an administrator's: `author` names the person.
    init(_ author: String) { self = .administrator(author) }
}

func json<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

extension PostgresConnection {
    /// The notice period an increase waits (`market_settings`).
    func priceNoticePeriod() async throws -> TimeInterval {
        TimeInterval(try await query("SELECT price_notice_days FROM market_settings").scalar(Int32.self) ?? 30) * 86_400
    }

    /// Which products on sale (listed or suspended, at their current or announced version) a rule's scope
    /// change moves in or out (nil: no rule, which covers nothing).
    func scopeChange(from old: PricingRule.Scope?, to new: PricingRule.Scope?) async throws -> PricingRule.ScopeChange {
        func covers(_ scope: PricingRule.Scope?) -> PostgresQuery {
            guard let scope else { return "false" }
            return """
                ((\(scope.sector)::text IS NULL OR v.sector = \(scope.sector))
                 AND (\(scope.region?.value)::text IS NULL
                      OR (\(scope.regionExact) AND \(scope.region?.value) = ANY(v.regions))
                      OR (NOT \(scope.regionExact)
                          AND EXISTS (SELECT 1 FROM unnest(v.regions) AS r WHERE pdx_region_span(\(scope.region?.value)) @> pdx_region_span(r))))
                 AND (\(scope.productID)::uuid IS NULL OR p.id = \(scope.productID))
                 AND (\(scope.operatorID)::uuid IS NULL OR p.operator_id = \(scope.operatorID))
                 AND (\(scope.chargeUnit?.rawValue)::text IS NULL OR v.charge_unit::text = \(scope.chargeUnit?.rawValue)))
                """
        }
        guard old != new else { return PricingRule.ScopeChange(losesProducts: false, gainsProducts: false) }
        let row = try await query("""
            WITH sold AS (
                SELECT \(covers(old)) AS before, \(covers(new)) AS after
                FROM products p
                JOIN product_versions v ON v.product_id = p.id
                 AND (v.version = p.version OR (p.pending_effective_at IS NOT NULL AND v.version = p.version + 1))
                WHERE p.state IN ('listed', 'suspended')
            )
            SELECT coalesce(bool_or(before AND NOT after), false), coalesce(bool_or(after AND NOT before), false) FROM sold
            """).first
        let (loses, gains) = try row?.decode(Bool.self, Bool.self) ?? (false, false)
        return PricingRule.ScopeChange(losesProducts: loses, gainsProducts: gains)
    }

    /// Proposed matches are repriced when the change takes effect (a deferred increase, at its time).
    func enqueueRepricing(_ ruleID: Int64, at effectiveAt: Date?) async throws {
        try await enqueue(NewJob(RepriceMatchesJob(ruleID: ruleID), runAt: effectiveAt))
    }

    func insertRuleVersion(_ rule: PricingRule, author: String, reason: String) async throws {
        try await execute("""
            INSERT INTO pricing_rule_versions (rule_id, version, parameters, sector, region_code, region_exact, product_id, operator_id,
                                               charge_unit, effective_at, review_by, author, reason)
            VALUES (\(rule.id), \(Int32(rule.version)), \(JSONB(rule.kind)), \(rule.scope.sector), \(rule.scope.region?.value),
                    \(rule.scope.regionExact), \(rule.scope.productID), \(rule.scope.operatorID),
                    \(rule.scope.chargeUnit?.rawValue)::pdx_charge_unit, \(rule.effectiveAt), \(rule.reviewBy), \(author), \(reason))
            """)
    }

    private static let versionColumns = """
        v.rule_id, v.version, v.parameters, v.sector, v.region_code, v.product_id, v.operator_id, v.charge_unit::text,
        v.effective_at, v.review_by, r.retired_at, v.author, v.reason, v.created_at, v.region_exact
        """

    func ruleVersions(_ id: Int64, lock: Bool) async throws -> [PricingRuleRecord] {
        if lock { _ = try await query("SELECT 1 FROM pricing_rules WHERE id = \(id) FOR UPDATE") }
        return try decodeRules(try await query("""
            SELECT \(unsafeRaw: Self.versionColumns) FROM pricing_rule_versions v JOIN pricing_rules r ON r.id = v.rule_id
            WHERE v.rule_id = \(id) ORDER BY v.version
            """))
    }

    func allRuleVersions() async throws -> [PricingRule] {
        try decodeRules(try await query("""
            SELECT \(unsafeRaw: Self.versionColumns) FROM pricing_rule_versions v JOIN pricing_rules r ON r.id = v.rule_id
            ORDER BY v.rule_id, v.version
            """)).map(\.rule)
    }

    private func decodeRules(_ rows: PostgresRows) throws -> [PricingRuleRecord] {
        try rows.map { row in
            let (id, version, kind, sector, region, product, operatorID, unit, effective, review, retired, author, reason, created, exact) = try row.decode(
                Int64.self, Int32.self, JSONB<PricingRule.Kind>.self, String?.self, String?.self, UUID?.self, UUID?.self, String?.self,
                Date.self, Date.self, Date?.self, String.self, String.self, Date.self, Bool.self)
            let scope = PricingRule.Scope(sector: sector, region: try region.map { code throws(MarketInputError) in try RegionCode(code) },
                                          productID: product, operatorID: operatorID, chargeUnit: try unit.map { try Rows.known($0, ChargeUnit.self, "pricing_rule_versions.charge_unit") },
                                          regionExact: exact)
            return PricingRuleRecord(rule: PricingRule(id: id, version: Int(version), kind: kind.value, scope: scope, effectiveAt: effective,
                                                       reviewBy: review, retiredAt: retired),
                                     author: author, reason: reason, createdAt: created)
        }
    }

    /// The quote under `rules` (every version of every rule; loaded here when nil). Callers pricing many
    /// products or matches in one pass load the rules once and pass them.
    func quote(productID: UUID, quantity: Int64, purpose: Purpose, buyerID: UUID, scenario: String?,
               purposeApproval: PurposeApproval? = nil, rules: [PricingRule]? = nil) async throws -> Quote {
        let product = try await self.product(productID, lock: false)
        let buyer = try await partyRow(buyerID)
        let since = try await query("""
            SELECT min(greatest(lower(validity), created_at)) FROM authorizations WHERE operator_id = \(product.operatorID)
            """).scalar(Date?.self) ?? nil
        let now = try await query("SELECT now()").scalar(Date.self) ?? Date()
        let priced = PricedProduct(id: productID, operatorID: product.operatorID, version: product.current, operatorSince: since)
        let versions: [PricingRule]
        if let rules { versions = rules } else { versions = try await allRuleVersions() }
        return try Pricing.quote(priced, PricedPurchase(quantity: quantity, purpose: purpose, verifications: buyer.verifications,
                                                                purposeApproval: purposeApproval, scenario: scenario),
                                 rules: versions, at: now)
    }

    /// Rule 5: a list price above the lowest cap in force for the product is refused.
    func checkCap(_ version: ProductVersion, productID: UUID, operatorID: UUID) async throws {
        let now = try await query("SELECT now()").scalar(Date.self) ?? Date()
        let priced = PricedProduct(id: productID, operatorID: operatorID, version: version)
        let caps = Pricing.rulesInForce(try await allRuleVersions(), at: now).compactMap { rule -> (PricingRule, Int64)? in
            guard rule.scope.covers(priced), case .cap(let max) = rule.kind else { return nil }
            return (rule, max)
        }
        if let cap = caps.min(by: { $0.1 < $1.1 }), version.listPriceFen > cap.1 {
            throw PolicyViolation(.capExceeded, "list price \(version.listPriceFen) fen is above the cap of \(cap.1) fen per \(version.chargeUnit.rawValue) (pricing rule \(cap.0.id) version \(cap.0.version))")
        }
    }
}
