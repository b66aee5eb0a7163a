public import Foundation
public import Market
import JobQueue
import Postgres

/// A stored pricing rule version with who made it and why.
public struct PricingRuleRecord: Sendable, Equatable {
    public var rule: PricingRule
    public var author: String
    public var reason: String
    public var createdAt: Date
}

extension MarketStore {
    /// How long an increase waits before it takes effect, unless configured otherwise.
    public static let defaultNoticePeriod: TimeInterval = 30 * 86_400

    /// Adds a rule (version 1). It takes effect at `effectiveAt` (now when nil); a new rule is not an
    /// increase of an existing one, so no notice period applies.
    public func addPricingRule(_ kind: PricingRule.Kind, scope: PricingRule.Scope = .init(), reviewBy: Date, effectiveAt: Date? = nil,
                               author: String, reason: String) async throws -> PricingRule {
        try await transaction { connection in
            let now = try await connection.query("SELECT now()").scalar(Date.self) ?? Date()
            let rule = PricingRule(id: 0, version: 1, kind: kind, scope: scope, effectiveAt: effectiveAt ?? now, reviewBy: reviewBy)
            try rule.validate()
            try validateText(author, field: "actor", maxLength: 200)
            try validateText(reason, field: "reason", maxLength: 2000)
            let id = try await connection.query("INSERT INTO pricing_rules (kind) VALUES (\(kind.name)) RETURNING id").scalar(Int64.self) ?? 0
            var added = rule
            added.id = id
            try await connection.insertRuleVersion(added, author: author, reason: reason)
            try await connection.audit(.init(author), "pricing.add", "pricing_rule", id, reason: reason, after: try json(added))
            try await connection.enqueueRepricing(id, at: added.effectiveAt)
            return added
        }
    }

    /// Makes a new version of a rule. A change that can raise a price takes effect only after the
    /// notice period: without `effectiveAt` it is deferred to then; an earlier `effectiveAt` is refused.
    /// Anything else takes effect at `effectiveAt`, or at once.
    @discardableResult
    public func setPricingRule(_ id: Int64, kind: PricingRule.Kind, scope: PricingRule.Scope, reviewBy: Date, effectiveAt: Date? = nil,
                               noticePeriod: TimeInterval = MarketStore.defaultNoticePeriod, author: String, reason: String) async throws -> PricingRule {
        try await transaction { connection in
            let now = try await connection.query("SELECT now()").scalar(Date.self) ?? Date()
            let versions = try await connection.ruleVersions(id, lock: true)
            guard let latest = versions.last?.rule else { throw MarketInputError(field: "rule", rule: "no pricing rule \(id); list them with 'pdxctl pricing list'") }
            if try await connection.query("SELECT 1 FROM pricing_rules WHERE id = \(id) AND retired_at IS NOT NULL").count > 0 {
                throw TransitionRefused(subject: "pricing rule", from: "retired", to: "changed", allowed: [])
            }
            guard kind.name == latest.kind.name else {
                throw MarketInputError(field: "kind", rule: "must stay \(latest.kind.name); retire this rule and add another to change its kind")
            }
            let increase = kind.raisesPrices(comparedTo: latest.kind) || scope != latest.scope
            let earliest = increase ? now + noticePeriod : now
            let effective = effectiveAt ?? earliest
            guard effective >= earliest - 1 else {
                throw MarketInputError(field: "effective_at", rule: "must be at least \(Int(noticePeriod / 86_400)) days ahead: this change can raise prices, and increases wait for the notice period")
            }
            let rule = PricingRule(id: id, version: (versions.last?.rule.version ?? 0) + 1, kind: kind, scope: scope, effectiveAt: effective, reviewBy: reviewBy)
            try rule.validate()
            try validateText(author, field: "actor", maxLength: 200)
            try validateText(reason, field: "reason", maxLength: 2000)
            try await connection.insertRuleVersion(rule, author: author, reason: reason)
            try await connection.audit(.init(author), "pricing.set", "pricing_rule", id, reason: reason,
                                       before: try json(latest), after: try json(rule))
            try await connection.enqueueRepricing(id, at: rule.effectiveAt)
            return rule
        }
    }

    /// Retires a rule: from now on it no longer applies.
    public func retirePricingRule(_ id: Int64, author: String, reason: String) async throws {
        try validateText(author, field: "actor", maxLength: 200)
        try validateText(reason, field: "reason", maxLength: 2000)
        try await transaction { connection in
            let retired = try await connection.execute("""
                UPDATE pricing_rules SET retired_at = now(), retired_by = \(author), retired_reason = \(reason)
                WHERE id = \(id) AND retired_at IS NULL
                """)
            guard retired == 1 else {
                let exists = try await connection.query("SELECT 1 FROM pricing_rules WHERE id = \(id)").count > 0
                if exists { throw TransitionRefused(subject: "pricing rule", from: "retired", to: "retired", allowed: []) }
                throw MarketInputError(field: "rule", rule: "no pricing rule \(id); list them with 'pdxctl pricing list'")
            }
            try await connection.audit(.init(author), "pricing.retire", "pricing_rule", id, reason: reason)
            try await connection.enqueueRepricing(id, at: nil)
        }
    }

    /// Every version of every rule (what `Pricing.rulesInForce` chooses from).
    public func pricingRuleVersions() async throws -> [PricingRule] {
        try await pool.withConnection { connection in try await connection.allRuleVersions() }
    }

    /// A rule's versions, oldest first, with their authors and reasons.
    public func pricingRuleHistory(_ id: Int64) async throws -> [PricingRuleRecord] {
        let history = try await pool.withConnection { connection in try await connection.ruleVersions(id, lock: false) }
        guard !history.isEmpty else { throw MarketInputError(field: "rule", rule: "no pricing rule \(id); list them with 'pdxctl pricing list'") }
        return history
    }

    /// The quote a buyer would get now for a quantity of a product's current version.
    public func quote(product productID: UUID, quantity: Int64, purpose: Purpose, buyer buyerID: UUID, scenario: String? = nil) async throws -> Quote {
        try await pool.withConnection { connection in
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
    /// Proposed matches are repriced when the change takes effect (a deferred increase, at its time).
    func enqueueRepricing(_ ruleID: Int64, at effectiveAt: Date?) async throws {
        try await enqueue(NewJob(RepriceMatchesJob(ruleID: ruleID), runAt: effectiveAt))
    }

    func insertRuleVersion(_ rule: PricingRule, author: String, reason: String) async throws {
        try await execute("""
            INSERT INTO pricing_rule_versions (rule_id, version, parameters, sector, region_code, product_id, operator_id, charge_unit,
                                               effective_at, review_by, author, reason)
            VALUES (\(rule.id), \(Int32(rule.version)), \(JSONB(rule.kind)), \(rule.scope.sector), \(rule.scope.region?.value),
                    \(rule.scope.productID), \(rule.scope.operatorID), \(rule.scope.chargeUnit?.rawValue)::pdx_charge_unit,
                    \(rule.effectiveAt), \(rule.reviewBy), \(author), \(reason))
            """)
    }

    private static let versionColumns = """
        v.rule_id, v.version, v.parameters, v.sector, v.region_code, v.product_id, v.operator_id, v.charge_unit::text,
        v.effective_at, v.review_by, r.retired_at, v.author, v.reason, v.created_at
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
            let (id, version, kind, sector, region, product, operatorID, unit, effective, review, retired, author, reason, created) = try row.decode(
                Int64.self, Int32.self, JSONB<PricingRule.Kind>.self, String?.self, String?.self, UUID?.self, UUID?.self, String?.self,
                Date.self, Date.self, Date?.self, String.self, String.self, Date.self)
            let scope = PricingRule.Scope(sector: sector, region: try region.map { code throws(MarketInputError) in try RegionCode(code) },
                                          productID: product, operatorID: operatorID, chargeUnit: unit.flatMap(ChargeUnit.init(rawValue:)))
            return PricingRuleRecord(rule: PricingRule(id: id, version: Int(version), kind: kind.value, scope: scope, effectiveAt: effective,
                                                       reviewBy: review, retiredAt: retired),
                                     author: author, reason: reason, createdAt: created)
        }
    }

    /// The quote under `rules` (every version of every rule; loaded here when nil). Callers pricing many
    /// products or matches in one pass load the rules once and pass them.
    func quote(productID: UUID, quantity: Int64, purpose: Purpose, buyerID: UUID, scenario: String?,
               rules: [PricingRule]? = nil) async throws -> Quote {
        let product = try await self.product(productID, lock: false)
        let buyer = try await partyRow(buyerID)
        let since = try await query("""
            SELECT min(lower(validity)) FROM authorizations WHERE operator_id = \(product.operatorID)
            """).scalar(Date?.self) ?? nil
        let now = try await query("SELECT now()").scalar(Date.self) ?? Date()
        let priced = PricedProduct(id: productID, operatorID: product.operatorID, version: product.current, operatorSince: since)
        let versions: [PricingRule]
        if let rules { versions = rules } else { versions = try await allRuleVersions() }
        return try Pricing.quote(priced, PricedPurchase(quantity: quantity, purpose: purpose, smallOrMicro: buyer.smallOrMicro, scenario: scenario),
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
