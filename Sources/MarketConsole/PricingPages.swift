import Foundation
import Hummingbird
import Market
import MarketStore

extension Console {
    /// The pricing rules: in force, all of them, due for review; a quote's preview; adding a rule. The
    /// store applies the same notice-period rules and writes the same audit as `pdxctl pricing`.
    func pricing(_ page: ConsolePage) async throws -> Content {
        let now = try await store.now()
        let versions = try await store.pricingRuleVersions()
        let notice = try await store.priceNoticePeriod()
        let inForce = Pricing.rulesInForce(versions, at: now)
        let latest = Dictionary(grouping: versions, by: \.id).compactMap { $0.value.max { $0.version < $1.version } }.sorted { $0.id < $1.id }
        let forceIDs = Dictionary(uniqueKeysWithValues: inForce.map { ($0.id, $0.version) })
        let due = inForce.filter { $0.reviewBy <= now.addingTimeInterval(30 * 86_400) }
        let rows = latest.map { rule in
            let status: String
            if let retired = rule.retiredAt {
                status = retired <= now ? page.t("retired", "已废止") : page.t("retiring", "将废止") + " " + Widgets.day(retired)
            } else if rule.effectiveAt > now {
                status = page.t("announced for", "预告生效") + " " + Widgets.day(rule.effectiveAt)
                    + (forceIDs[rule.id].map { "; v\($0) " + page.t("in force", "生效中") } ?? "")
            } else {
                status = page.t("in force", "生效中")
            }
            return [HTML("<a href=\"/console/pricing/\(rule.id)\">\(rule.id)</a>"), HTML("v\(rule.version)"), HTML("\(PricingTerms.name(of: rule.kind))"),
                    HTML("\(PricingTerms.describe(rule.kind))"), HTML("\(PricingTerms.describe(rule.scope))"), HTML("\(status)"),
                    HTML("\(Widgets.day(rule.reviewBy))")]
        }
        let dueRows = due.map { rule in
            [HTML("<a href=\"/console/pricing/\(rule.id)\">\(rule.id)</a>"), HTML("\(PricingTerms.name(of: rule.kind))"), HTML("\(PricingTerms.describe(rule.kind))"),
             rule.reviewBy < now ? HTML("<span class=\"error\">\(Widgets.day(rule.reviewBy))</span>") : HTML("\(Widgets.day(rule.reviewBy))")]
        }
        return Content(title: page.t("Pricing rules", "定价规则"), body: HTML("""
            <p class="muted">\(page.t("A change that can raise a price waits for the notice period:", "可能提高价格的变更需等待预告期：")) <strong>\(Int(notice / 86_400)) \(page.t("days", "天"))</strong>.
            \(page.t("Other changes take effect at once, or when you say.", "其他变更立即生效，或在指定时间生效。"))</p>
            \(Widgets.table([.init(page.t("rule", "规则"), numeric: true), .init(page.t("version", "版本")), .init(page.t("kind", "类型")),
                             .init(page.t("terms", "条款")), .init(page.t("applies to", "适用范围")), .init(page.t("status", "状态")),
                             .init(page.t("review by", "复审日期"))],
                            rows, empty: page.t("No pricing rule yet.", "尚无定价规则。"), id: "rules"))
            <h2>\(page.t("Due for review within 30 days", "30 天内需复审"))</h2>
            \(Widgets.table([.init(page.t("rule", "规则"), numeric: true), .init(page.t("kind", "类型")), .init(page.t("terms", "条款")),
                             .init(page.t("review by", "复审日期"))], dueRows, empty: page.t("None.", "无。"), id: "review-due"))
            <h2>\(page.t("Preview a quote", "预览报价"))</h2>
            \(try await preview(page))
            <h2>\(page.t("Add a rule", "新增规则"))</h2>
            <form id="pricing-add" class="stack" method="post" action="/console/pricing">
            \(page.csrfField)
            <label>\(page.t("kind", "类型")) <select name="kind">\(PricingTerms.kinds.map { HTML("<option value=\"\($0)\">\($0)</option>") })</select></label>
            \(ruleFields(page, rule: nil))
            <button type="submit">\(page.t("Add the rule", "新增规则"))</button>
            </form>
            """))
    }

    /// The preview form, and the quote when it was filled in.
    func preview(_ page: ConsolePage) async throws -> HTML {
        var result = HTML.empty
        if page.query["product"] != nil || page.query["buyer"] != nil {
            let product = try Self.uuid(page.query["product"], "product"), buyer = try Self.uuid(page.query["buyer"], "buyer")
            guard let quantity = page.query["quantity"].flatMap(Int64.init), quantity >= 1 else {
                throw MarketInputError(field: "quantity", rule: "must be a whole number of at least 1")
            }
            guard let purpose = page.query["purpose"].flatMap(Purpose.init(rawValue:)) else {
                throw MarketInputError(field: "purpose", rule: "must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let quote = try await store.quote(product: product, quantity: quantity, purpose: purpose, buyer: buyer, scenario: page.query["scenario"])
            result = HTML("""
                \(Widgets.table([.init(page.t("step", "步骤")), .init(page.t("detail", "说明")), .init(page.t("amount", "金额"), numeric: true)],
                                quote.lines.map { [HTML("\($0.step)"), HTML("\($0.detail)"), HTML("\(Widgets.yuan($0.amountFen))")] }, empty: "–", id: "quote"))
                <p>\(page.t("Total", "合计")): <strong>\(Widgets.yuan(quote.amountFen))</strong> · \(page.t("rules", "规则")): \(quote.rules.isEmpty ? "–" : quote.rules.map { "\($0.id) v\($0.version)" }.joined(separator: ", "))</p>
                """)
        }
        let purposes = Purpose.allCases.map { purpose in
            HTML("<option value=\"\(purpose.rawValue)\"\(page.query["purpose"] == purpose.rawValue ? HTML(" selected") : .empty)>\(purpose.rawValue)</option>")
        }
        return HTML("""
            <form id="pricing-preview" class="stack" method="get" action="/console/pricing">
            <label>\(page.t("product id", "产品编号")) <input name="product" required value="\(page.query["product"] ?? "")"></label>
            <label>\(page.t("buyer id", "买方编号")) <input name="buyer" required value="\(page.query["buyer"] ?? "")"></label>
            <label>\(page.t("quantity", "数量")) <input name="quantity" type="number" min="1" required value="\(page.query["quantity"] ?? "1")"></label>
            <label>\(page.t("purpose", "用途")) <select name="purpose">\(purposes)</select></label>
            <label>\(page.t("scenario (optional)", "场景（可选）")) <input name="scenario" value="\(page.query["scenario"] ?? "")"></label>
            <button type="submit">\(page.t("Preview", "预览"))</button>
            </form>
            \(result)
            """)
    }

    /// A rule's terms, scope and dates as form fields, filled with `rule`'s when given.
    func ruleFields(_ page: ConsolePage, rule: PricingRule?) -> HTML {
        var terms = PricingTerms()
        switch rule?.kind {
        case .cap(let max): terms.maxUnitPriceFen = max
        case .tiers(let tiers): terms.bands = PricingTerms.describe(.tiers(tiers)).split(separator: " ").map(String.init)
        case .smallMicroDiscount(let permille): terms.permille = permille
        case .priorityScenarioDiscount(let scenarios, let permille): (terms.scenarios, terms.permille) = (scenarios, permille)
        case .usagePlan(let base, let unit, let free, let max): (terms.baseFeeFen, terms.perUnitFen, terms.freeUnits, terms.monthlyMaxFen) = (base, unit, free, max)
        case .trialPrice(let price): terms.unitPriceFen = price
        case .publicInterestExemption, nil: break
        }
        func field(_ name: String, _ label: String, _ value: String?, type: String = "number") -> HTML {
            HTML("<label>\(label) <input name=\"\(name)\" type=\"\(type)\" value=\"\(value ?? "")\"\(type == "number" ? HTML(" min=\"0\"") : .empty)></label>")
        }
        let scope = rule?.scope
        let units = [""] + ChargeUnit.allCases.map(\.rawValue)
        return HTML("""
            \(field("max_unit_price_fen", page.t("cap: most a unit may cost (fen)", "上限：单价最高（分）"), terms.maxUnitPriceFen.map(String.init)))
            <label>\(page.t("tiers: bands, one a line (1-1000:50, 1001-:x800)", "阶梯：每行一档（1-1000:50，1001-:x800）")) <textarea name="band" rows="2">\(terms.bands.joined(separator: "\n"))</textarea></label>
            \(field("permille", page.t("discount: per mille off", "折扣：千分比"), terms.permille.map(String.init)))
            \(field("scenario", page.t("scenario discount: scenarios (comma-separated)", "场景折扣：场景（逗号分隔）"), terms.scenarios.joined(separator: ","), type: "text"))
            \(field("base_fee_fen", page.t("usage plan: base fee (fen)", "用量套餐：基础费（分）"), terms.baseFeeFen.map(String.init)))
            \(field("per_unit_fen", page.t("usage plan: per unit (fen)", "用量套餐：超出单价（分）"), terms.perUnitFen.map(String.init)))
            \(field("free_units", page.t("usage plan: free units", "用量套餐：免费量"), terms.freeUnits.map(String.init)))
            \(field("monthly_max_fen", page.t("usage plan: most a month (fen)", "用量套餐：每月最高（分）"), terms.monthlyMaxFen.map(String.init)))
            \(field("unit_price_fen", page.t("trial price: unit price (fen)", "试运营价：单价（分）"), terms.unitPriceFen.map(String.init)))
            \(field("sector", page.t("scope: sector", "范围：行业"), scope?.sector, type: "text"))
            \(field("region", page.t("scope: region code", "范围：地区代码"), scope?.region?.value, type: "text"))
            \(field("product", page.t("scope: product id", "范围：产品编号"), scope?.productID.map(Widgets.id), type: "text"))
            \(field("operator", page.t("scope: operator id", "范围：运营方编号"), scope?.operatorID.map(Widgets.id), type: "text"))
            <label>\(page.t("scope: charge unit", "范围：计费单位")) <select name="charge_unit">\(units.map { unit in
                HTML("<option value=\"\(unit)\"\(scope?.chargeUnit?.rawValue == unit || (scope?.chargeUnit == nil && unit.isEmpty) ? HTML(" selected") : .empty)>\(unit.isEmpty ? page.t("any", "任意") : unit)</option>")
            })</select></label>
            <label>\(page.t("review by", "复审日期")) <input name="review_by" type="date" required value="\(rule.map { Widgets.day($0.reviewBy) } ?? "")"></label>
            <label>\(page.t("takes effect (UTC day; empty: as soon as the rules allow)", "生效日期（UTC；留空：规则允许的最早时间）")) <input name="effective_at" type="date"></label>
            <label>\(page.t("reason (recorded in the audit trail)", "原因（记入审计日志）")) <input name="reason" required maxlength="2000"></label>
            """)
    }

    /// The form's rule: its kind (named, or the rule's own), terms, scope, dates and reason, each checked.
    func ruleInput(_ fields: FormFields, kind name: String) throws -> (kind: PricingRule.Kind, scope: PricingRule.Scope, reviewBy: Date, effectiveAt: Date?, reason: String) {
        func integer<T: FixedWidthInteger>(_ field: String, _: T.Type) throws(MarketInputError) -> T? {
            guard let text = fields[field] else { return nil }
            guard let value = T(text), value >= 0 else { throw MarketInputError(field: field, rule: "must be a whole number of at least 0, got '\(text)'") }
            return value
        }
        let terms = PricingTerms(maxUnitPriceFen: try integer("max_unit_price_fen", Int64.self),
                                 bands: (fields.values["band"] ?? []).flatMap { $0.split(whereSeparator: \.isNewline) }
                                    .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                                 permille: try integer("permille", Int.self), scenarios: fields.all("scenario"),
                                 baseFeeFen: try integer("base_fee_fen", Int64.self), perUnitFen: try integer("per_unit_fen", Int64.self),
                                 freeUnits: try integer("free_units", Int64.self), monthlyMaxFen: try integer("monthly_max_fen", Int64.self),
                                 unitPriceFen: try integer("unit_price_fen", Int64.self))
        let kind = try terms.kind(named: name)
        var unit: ChargeUnit?
        if let text = fields["charge_unit"] {
            guard let parsed = ChargeUnit(rawValue: text) else { throw MarketInputError(field: "charge_unit", rule: "must be item, call, hour or record") }
            unit = parsed
        }
        let scope = PricingRule.Scope(sector: fields["sector"], region: try fields["region"].map { try RegionCode($0, field: "region") },
                                      productID: try fields["product"].map { try Self.uuid($0, "product") },
                                      operatorID: try fields["operator"].map { try Self.uuid($0, "operator") }, chargeUnit: unit)
        guard let review = fields["review_by"] else { throw MarketInputError(field: "review_by", rule: "must be given: when the rule is due for review") }
        let reviewBy = try Self.date(review, "review_by")
        var effectiveAt: Date?
        if let effective = fields["effective_at"] {
            let day = try Self.date(effective, "effective_at")
            // Today means now (the store refuses a time in the past); a later day, its start.
            effectiveAt = day > Date() ? day : nil
        }
        guard let reason = fields["reason"] else { throw MarketInputError(field: "reason", rule: "must not be empty: say why (it goes into the audit trail)") }
        return (kind, scope, reviewBy, effectiveAt, reason)
    }

    func addRule(_ page: ConsolePage, _ fields: FormFields) async throws -> Response {
        guard case .administrator(let name) = page.viewer?.role else { throw MarketInputError(field: "session", rule: "must be an administrator's") }
        guard let kindName = fields["kind"] else { throw MarketInputError(field: "kind", rule: "must be one of \(PricingTerms.kinds.joined(separator: ", "))") }
        let input = try ruleInput(fields, kind: kindName)
        let rule = try await store.addPricingRule(input.kind, scope: input.scope, reviewBy: input.reviewBy, effectiveAt: input.effectiveAt,
                                                  author: name, reason: input.reason)
        return Self.redirect("/console/pricing/\(rule.id)?done=added")
    }

    func setRule(_ page: ConsolePage, _ fields: FormFields, id: Int64) async throws -> Response {
        guard case .administrator(let name) = page.viewer?.role else { throw MarketInputError(field: "session", rule: "must be an administrator's") }
        guard let current = try await store.pricingRuleHistory(id).last?.rule else { throw MarketInputError(field: "rule", rule: "no pricing rule \(id)") }
        let input = try ruleInput(fields, kind: PricingTerms.name(of: current.kind))
        try await store.setPricingRule(id, kind: input.kind, scope: input.scope, reviewBy: input.reviewBy, effectiveAt: input.effectiveAt,
                                       author: name, reason: input.reason)
        return Self.redirect("/console/pricing/\(id)?done=set")
    }

    func retireRule(_ page: ConsolePage, _ fields: FormFields, id: Int64) async throws -> Response {
        guard case .administrator(let name) = page.viewer?.role else { throw MarketInputError(field: "session", rule: "must be an administrator's") }
        guard let reason = fields["reason"] else { throw MarketInputError(field: "reason", rule: "must not be empty: say why (it goes into the audit trail)") }
        try await store.retirePricingRule(id, author: name, reason: reason)
        return Self.redirect("/console/pricing/\(id)?done=retired")
    }

    /// A rule: every version with who made it and why; a new version; retirement.
    func rule(_ page: ConsolePage, id: Int64) async throws -> Content {
        let history = try await store.pricingRuleHistory(id)
        guard let latest = history.last?.rule else { throw MarketInputError(field: "rule", rule: "no pricing rule \(id)") }
        let now = try await store.now()
        let rows = history.map { record in
            [HTML("v\(record.rule.version)"), HTML("\(PricingTerms.describe(record.rule.kind))"), HTML("\(PricingTerms.describe(record.rule.scope))"),
             HTML("\(Widgets.time(record.rule.effectiveAt))"), HTML("\(Widgets.day(record.rule.reviewBy))"), HTML("\(record.author)"), HTML("\(record.reason)")]
        }
        let notice: HTML = switch page.query["done"] {
        case "added": HTML("<p class=\"notice\">\(page.t("Rule added.", "规则已新增。"))</p>")
        case "set": HTML("<p class=\"notice\">\(page.t("New version saved.", "新版本已保存。"))</p>")
        case "retired": HTML("<p class=\"notice\">\(page.t("Retirement recorded.", "废止已记录。"))</p>")
        default: .empty
        }
        let retired = latest.retiredAt.map { at in
            HTML("<p class=\"error\">\(at <= now ? page.t("Retired on", "废止于") : page.t("Retires on", "将废止于")) \(Widgets.time(at)).</p>")
        }
        let forms = retired != nil ? HTML.empty : HTML("""
            <h2>\(page.t("A new version", "新版本"))</h2>
            <form id="pricing-set" class="stack" method="post" action="/console/pricing/\(id)">
            \(page.csrfField)
            \(ruleFields(page, rule: latest))
            <button type="submit">\(page.t("Save the new version", "保存新版本"))</button>
            </form>
            <h2>\(page.t("Retire", "废止"))</h2>
            <form id="pricing-retire" class="stack" method="post" action="/console/pricing/\(id)/retire">
            \(page.csrfField)
            <label>\(page.t("reason (recorded in the audit trail)", "原因（记入审计日志）")) <input name="reason" required maxlength="2000"></label>
            <button type="submit" class="danger">\(page.t("Retire the rule", "废止规则"))</button>
            </form>
            """)
        return Content(title: page.t("Pricing rule", "定价规则") + " \(id) · \(PricingTerms.name(of: latest.kind))", body: HTML("""
            \(notice)
            \(retired ?? .empty)
            \(Widgets.table([.init(page.t("version", "版本")), .init(page.t("terms", "条款")), .init(page.t("applies to", "适用范围")),
                             .init(page.t("takes effect", "生效时间")), .init(page.t("review by", "复审日期")), .init(page.t("by", "作者")),
                             .init(page.t("reason", "原因"))], rows, empty: "–", id: "history"))
            \(forms)
            <p><a href="/console/pricing">\(page.t("All rules", "全部规则"))</a></p>
            """))
    }
}
