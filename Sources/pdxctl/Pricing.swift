import ArgumentParser
import Foundation
import Logging
import Market
import MarketStore
import PDXCommandLine
import Postgres

struct PricingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pricing",
        abstract: "Manage the fair-pricing rules (rule 5): caps, exemptions, tiers, discounts, usage plans, trial prices.",
        discussion: """
            Every change makes a new version with an effective time, a review date, an author (--actor, \
            default: the OS user) and a reason (--reason, required), and is written to the audit log. \
            Anything that can raise what a buyer pays takes effect only after the notice period \
            (pdxctl settings, at least 30 days): a higher cap or a smaller discount, a new tiers rule or \
            usage plan, a scope that leaves products out of a cap or a discount, and retiring a rule in \
            force. Decreases apply at once. `set` keeps the rule's scope unless scope options are given \
            (--unscoped for every product); a change of scope is shown and needs --yes. Exit codes: \
            0 done; 1 refused or failed (the message says why); 64 a bad argument.

            Examples:
              pdxctl pricing list
              pdxctl pricing add cap --max-unit-price-fen 40 --sector transport --region 310000 --review-by 2027-06-30 --reason "2026 cap"
              pdxctl pricing add tiers --band 1-1000:50 --band 1001-:x800 --review-by 2027-06-30 --reason "volume bands"
              pdxctl pricing set 3 --permille 150 --review-by 2027-06-30 --reason "SME relief"
              pdxctl pricing set 4 --max-unit-price-fen 35 --sector transport --review-by 2027-06-30 --reason "the whole sector" --yes
              pdxctl pricing preview --product 0c6b… --quantity 1000 --purpose industry_development --buyer 5f1e…
              pdxctl pricing retire 3 --reason "superseded" --yes
            """,
        subcommands: [List.self, Show.self, Add.self, Set.self, Retire.self, History.self, Preview.self, ReviewDue.self]
    )
}


/// The parameters and scope of a rule, as flags; which flags a kind needs is checked in `rule(kind:)`.
struct RuleOptions: ParsableArguments {
    @Option(help: ArgumentHelp("cap: the most a unit may cost, in fen.", valueName: "fen")) var maxUnitPriceFen: Int64?
    @Option(help: ArgumentHelp("tiers: a band FROM-TO:PRICE (fen per unit) or FROM-:xPERMILLE (of the list price); repeat, in order.", valueName: "band"))
    var band: [String] = []
    @Option(help: ArgumentHelp("Discounts: per mille off (0-1000).", valueName: "permille")) var permille: Int?
    @Option(help: ArgumentHelp("scenario-discount: a priority scenario (repeatable).", valueName: "scenario")) var scenario: [String] = []
    @Option(help: ArgumentHelp("usage-plan: base fee in fen.", valueName: "fen")) var baseFeeFen: Int64?
    @Option(help: ArgumentHelp("usage-plan: price per unit beyond the free units, in fen.", valueName: "fen")) var perUnitFen: Int64?
    @Option(help: ArgumentHelp("usage-plan: units included free.", valueName: "count")) var freeUnits: Int64?
    @Option(help: ArgumentHelp("usage-plan: the most a month costs, in fen.", valueName: "fen")) var monthlyMaxFen: Int64?
    @Option(help: ArgumentHelp("trial-price: the unit price for operators in their first year, in fen.", valueName: "fen")) var unitPriceFen: Int64?
    @Option(help: ArgumentHelp("Scope: a sector.", valueName: "sector")) var sector: String?
    @Option(help: ArgumentHelp("Scope: a region code.", valueName: "code")) var region: String?
    @Option(help: ArgumentHelp("Scope: one product.", valueName: "uuid")) var product: String?
    @Option(help: ArgumentHelp("Scope: one operator.", valueName: "uuid")) var `operator`: String?
    @Option(help: ArgumentHelp("Scope: a charge unit (item, call, hour, record).", valueName: "unit")) var chargeUnit: String?
    @Option(help: ArgumentHelp("When the rule is due for review (YYYY-MM-DD).", valueName: "date")) var reviewBy: String
    @Option(help: ArgumentHelp("When this version takes effect (YYYY-MM-DD or RFC 3339; default: now, or after the notice period for increases).", valueName: "time"))
    var effectiveAt: String?
    @OptionGroup var change: ChangeOptions

    static let kinds = PricingTerms.kinds

    func kind(named name: String) throws -> PricingRule.Kind {
        let terms = PricingTerms(maxUnitPriceFen: maxUnitPriceFen, bands: band, permille: permille, scenarios: scenario, baseFeeFen: baseFeeFen,
                                 perUnitFen: perUnitFen, freeUnits: freeUnits, monthlyMaxFen: monthlyMaxFen, unitPriceFen: unitPriceFen)
        do {
            return try terms.kind(named: name)
        } catch {
            switch error.field {
            case "kind": throw ValidationError("the kind \(error.rule)")
            case "band" where !band.isEmpty: throw ValidationError("--band \(error.rule)")
            default: throw ValidationError("\(name) needs --\(error.field.replacingOccurrences(of: "_", with: "-"))")
            }
        }
    }

    static func name(of kind: PricingRule.Kind) -> String { PricingTerms.name(of: kind) }

    /// Whether any scope option was given.
    var scopeGiven: Bool { sector != nil || region != nil || product != nil || `operator` != nil || chargeUnit != nil }

    func scope() throws -> PricingRule.Scope {
        func uuid(_ text: String?, _ flag: String) throws -> UUID? {
            guard let text else { return nil }
            guard let id = UUID(uuidString: text) else { throw ValidationError("\(flag) must be a UUID, got '\(text)'") }
            return id
        }
        var unit: ChargeUnit?
        if let chargeUnit {
            guard let parsed = ChargeUnit(rawValue: chargeUnit) else { throw ValidationError("--charge-unit must be item, call, hour or record, got '\(chargeUnit)'") }
            unit = parsed
        }
        do {
            return PricingRule.Scope(sector: sector, region: try region.map { try RegionCode($0, field: "--region") },
                                     productID: try uuid(product, "--product"), operatorID: try uuid(`operator`, "--operator"), chargeUnit: unit)
        } catch let error as MarketInputError {
            throw ValidationError("\(error)")
        }
    }

    func dates() throws -> (review: Date, effective: Date?) {
        (try parseTime(reviewBy, option: "--review-by"), try effectiveAt.map { try parseTime($0, option: "--effective-at") })
    }
}

/// Who makes a change and why.
struct ChangeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Who makes the change (default: the OS user).", valueName: "name"))
    var actor: String = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
    @Option(help: ArgumentHelp("Why (required; recorded in the audit log).", valueName: "text"))
    var reason: String

    func validate() throws {
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must not be empty") }
        guard !actor.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--actor must not be empty") }
    }
}


func describe(_ kind: PricingRule.Kind) -> String { PricingTerms.describe(kind) }

func describe(_ scope: PricingRule.Scope) -> String { PricingTerms.describe(scope) }

struct RuleJSON: Encodable {
    var id: Int64, version: Int, kind: String, terms: String, scope: String, effectiveAt: Date, reviewBy: Date, retiredAt: Date?
    init(_ rule: PricingRule) {
        id = rule.id; version = rule.version; kind = RuleOptions.name(of: rule.kind); terms = describe(rule.kind)
        scope = describe(rule.scope); effectiveAt = rule.effectiveAt; reviewBy = rule.reviewBy; retiredAt = rule.retiredAt
    }
}

extension PricingCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The rules in force now (and, with --all, retired ones and announced versions).")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Also list retired rules and versions not yet in force.") var all = false
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let versions = try await withStore(database) { try await $0.pricingRuleVersions() }
            let rules = all ? versions : Pricing.rulesInForce(versions, at: Date())
            if json { return try printJSON(rules.map(RuleJSON.init)) }
            guard !rules.isEmpty else { return say("no pricing rules" + (all ? "" : " in force")) }
            printTable(["id", "v", "kind", "terms", "scope", "effective", "review by", "retired"], rules.map { rule in
                ["\(rule.id)", "\(rule.version)", RuleOptions.name(of: rule.kind), describe(rule.kind), describe(rule.scope),
                 formatDate(rule.effectiveAt), formatDate(rule.reviewBy), formatDate(rule.retiredAt)]
            })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One rule: its latest version.")
        @Argument(help: "The rule's id.") var id: Int64
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let history = try await withStore(database) { try await $0.pricingRuleHistory(id) }
            guard let latest = history.last else { throw CommandError("no pricing rule \(id)") }
            if json { return try printJSON(RuleJSON(latest.rule)) }
            let rule = latest.rule
            for (name, value) in [("rule", "\(rule.id) version \(rule.version)"), ("kind", RuleOptions.name(of: rule.kind)),
                                  ("terms", describe(rule.kind)), ("scope", describe(rule.scope)), ("effective", formatDate(rule.effectiveAt)),
                                  ("review by", formatDate(rule.reviewBy)), ("retired", formatDate(rule.retiredAt)),
                                  ("by", latest.author), ("reason", latest.reason)] {
                say("\(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(value)")
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a rule of a kind: cap, exemption, tiers, small-micro-discount, scenario-discount, usage-plan, trial-price.")
        @Argument(help: "The kind of rule.") var kind: String
        @OptionGroup var rule: RuleOptions
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            _ = try rule.kind(named: kind)
            _ = try rule.scope()
            _ = try rule.dates()
        }

        func run() async throws {
            let (review, effective) = try rule.dates()
            let added = try await withStore(database) { store in
                try await store.addPricingRule(try rule.kind(named: kind), scope: try rule.scope(), reviewBy: review, effectiveAt: effective,
                                               author: rule.change.actor, reason: rule.change.reason)
            }
            say("added pricing rule \(added.id) (\(kind), \(describe(added.kind))), in force from \(formatDate(added.effectiveAt))")
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new version of a rule (what can raise a price waits for the notice period).",
            discussion: """
                The new version keeps the rule's scope unless scope options are given: then the scope is \
                exactly what they say (--unscoped: every product), and the change is shown and needs --yes. \
                A decrease applies at once; anything that can raise a price takes effect after the notice \
                period, or at --effective-at if later.
                """)
        @Argument(help: "The rule's id.") var id: Int64
        @OptionGroup var rule: RuleOptions
        @Flag(help: "Scope: every product (clears the rule's scope).") var unscoped = false
        @Option(help: ArgumentHelp("No longer taken: the notice period is a setting (pdxctl settings).", visibility: .hidden)) var noticeDays: Int?
        @OptionGroup var confirmation: ConfirmationOptions
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            _ = try rule.scope()
            _ = try rule.dates()
            if noticeDays != nil {
                throw ValidationError("""
                    --notice-days is no longer taken: increases wait for the notice period set with \
                    'pdxctl settings set --price-notice-days N' (30 to 365 days); for a later time, pass --effective-at
                    """)
            }
            if unscoped && rule.scopeGiven { throw ValidationError("--unscoped clears the scope: give it without scope options") }
        }

        func run() async throws {
            let (review, effective) = try rule.dates()
            let updated = try await withStore(database) { store in
                guard let latest = try await store.pricingRuleHistory(id).last?.rule else { throw CommandError("no pricing rule \(id)") }
                let kind = try rule.kind(named: RuleOptions.name(of: latest.kind))
                let scope = unscoped ? PricingRule.Scope() : rule.scopeGiven ? try rule.scope() : latest.scope
                if scope != latest.scope {
                    guard try confirmation.confirm("Change the scope of pricing rule \(id) from \(describe(latest.scope)) to \(describe(scope))?") else {
                        throw CommandError("not changed")
                    }
                }
                return try await store.setPricingRule(id, kind: kind, scope: scope, reviewBy: review, effectiveAt: effective,
                                                      author: rule.change.actor, reason: rule.change.reason)
            }
            let when = updated.effectiveAt > Date() + 60 ? "takes effect on \(formatDate(updated.effectiveAt)) (it can raise prices: notice period)"
                : "in force from \(formatDate(updated.effectiveAt))"
            say("pricing rule \(id) version \(updated.version): \(describe(updated.kind)), scope \(describe(updated.scope)), \(when)")
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retire a rule: it stops applying after the notice period (at once if nobody pays by it yet).")
        @Argument(help: "The rule's id.") var id: Int64
        @OptionGroup var change: ChangeOptions
        @OptionGroup var confirmation: ConfirmationOptions
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            guard try confirmation.confirm("Retire pricing rule \(id)?") else { throw CommandError("not retired") }
            let retiredAt = try await withStore(database) { try await $0.retirePricingRule(id, author: change.actor, reason: change.reason) }
            if retiredAt > Date() + 60 {
                say("pricing rule \(id) retires on \(formatDate(retiredAt)): it applies until then (taking it away can raise prices: notice period)")
            } else {
                say("retired pricing rule \(id)")
            }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every version of a rule, with who made it and why.")
        @Argument(help: "The rule's id.") var id: Int64
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let history = try await withStore(database) { try await $0.pricingRuleHistory(id) }
            if json { return try printJSON(history.map(\.rule).map(RuleJSON.init)) }
            printTable(["v", "terms", "scope", "effective", "review by", "by", "reason"], history.map { record in
                ["\(record.rule.version)", describe(record.rule.kind), describe(record.rule.scope), formatDate(record.rule.effectiveAt),
                 formatDate(record.rule.reviewBy), record.author, record.reason]
            })
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The quote a buyer would get now, with its line items.")
        @Option(help: ArgumentHelp("The product.", valueName: "uuid")) var product: String
        @Option(help: ArgumentHelp("How many units.", valueName: "count")) var quantity: Int64
        @Option(help: ArgumentHelp("public_governance, public_welfare, industry_development or sector_development.", valueName: "purpose"))
        var purpose: String
        @Option(help: ArgumentHelp("The buyer (a party).", valueName: "uuid")) var buyer: String
        @Option(help: ArgumentHelp("The buyer's scenario (for priority-scenario discounts).", valueName: "scenario")) var scenario: String?
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard UUID(uuidString: product) != nil else { throw ValidationError("--product must be a UUID, got '\(product)'") }
            guard UUID(uuidString: buyer) != nil else { throw ValidationError("--buyer must be a UUID, got '\(buyer)'") }
            guard quantity >= 1 else { throw ValidationError("--quantity must be at least 1, got \(quantity)") }
            guard Purpose(rawValue: purpose) != nil else {
                throw ValidationError("--purpose must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", ")), got '\(purpose)'")
            }
        }

        func run() async throws {
            guard let productID = UUID(uuidString: product), let buyerID = UUID(uuidString: buyer), let purpose = Purpose(rawValue: purpose) else {
                throw ValidationError("--product, --buyer and --purpose were checked before; this cannot happen")
            }
            let quote = try await withStore(database) { store in
                try await store.quote(product: productID, quantity: quantity, purpose: purpose, buyer: buyerID, scenario: scenario)
            }
            if json { return try printJSON(quote) }
            printTable(["step", "detail", "amount (fen)"], quote.lines.map { [$0.step, $0.detail, "\($0.amountFen)"] })
            say("total: \(quote.amountFen) fen (\(String(format: "%.2f", Double(quote.amountFen) / 100)) yuan)")
            say("rules: " + (quote.rules.isEmpty ? "none" : quote.rules.map { "\($0.id) v\($0.version)" }.joined(separator: ", ")))
        }
    }

    struct ReviewDue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "review-due", abstract: "Rules in force whose review date falls within --within.")
        @Option(help: ArgumentHelp("How far ahead to look (such as 30d).", valueName: "duration")) var within = "30d"
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws { _ = try parseDuration(within, option: "--within") }

        func run() async throws {
            let horizon = Date() + (try parseDuration(within, option: "--within") / .seconds(1))
            let due = Pricing.rulesInForce(try await withStore(database) { try await $0.pricingRuleVersions() }, at: Date())
                .filter { $0.reviewBy <= horizon }
            if json { return try printJSON(due.map(RuleJSON.init)) }
            guard !due.isEmpty else { return say("no rule is due for review within \(within)") }
            printTable(["id", "v", "kind", "terms", "review by"], due.map {
                ["\($0.id)", "\($0.version)", RuleOptions.name(of: $0.kind), describe($0.kind), formatDate($0.reviewBy)]
            })
        }
    }
}
