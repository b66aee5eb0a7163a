import Foundation
import Market
import Testing

@Suite struct PricingTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let shanghai = try! RegionCode("310000")

    func product(price: Int64, unit: ChargeUnit = .call, since: Date? = nil) -> PricedProduct {
        PricedProduct(id: UUID(uuidString: "00000000-0000-4000-8000-000000000001")!, operatorID: UUID(uuidString: "00000000-0000-4000-8000-000000000002")!,
                      version: ProductVersion(title: "路况 traffic", sector: "transport", regions: [shanghai], scenarios: ["logistics"],
                                              fields: ["speed"], deliveryModes: [.api], chargeUnit: unit, listPriceFen: price, sourceResourceIDs: [UUID()]),
                      operatorSince: since)
    }

    func rule(_ id: Int64, _ kind: PricingRule.Kind, version: Int = 1, effective: Date? = nil, scope: PricingRule.Scope = .init()) -> PricingRule {
        PricingRule(id: id, version: version, kind: kind, scope: scope, effectiveAt: effective ?? now - 86_400, reviewBy: now + 365 * 86_400)
    }

    func verified(_ partyClass: PartyClass, until: Date? = nil) -> Verification {
        Verification(id: UUID(uuidString: "00000000-0000-4000-8000-00000000000c")!, partyClass: partyClass, evidence: "营业执照", expiresAt: until ?? now + 86_400)
    }

    @Test func everyStepIsExplainedAndTheRulesUsedAreRecorded() throws {
        let rules = [
            rule(1, .cap(maxUnitPriceFen: 40), scope: .init(sector: "transport")),
            rule(2, .tiers([.init(from: 1, upTo: 101, multiplierPermille: 1000), .init(from: 101, upTo: nil, multiplierPermille: 800)])),
            rule(3, .smallMicroDiscount(permille: 100)),
            rule(4, .priorityScenarioDiscount(scenarios: ["logistics"], permille: 50)),
        ]
        let quote = try Pricing.quote(product(price: 50), PricedPurchase(quantity: 200, purpose: .industryDevelopment, verifications: [verified(.smallMicro)], scenario: "logistics"),
                                      rules: rules, at: now)
        // 50 → cap 40; tiers: 100 × 40 + 100 × min(40, 50 × 0.8 = 40) = 8000; −10 % = 7200; −5 % = 6840.
        #expect(quote.lines.map(\.step) == ["list_price", "cap", "tiers", "small_micro_discount", "priority_scenario_discount"])
        #expect(quote.lines.map(\.amountFen) == [10_000, 8_000, 8_000, 7_200, 6_840])
        #expect(quote.amountFen == 6_840)
        #expect(quote.rules.map(\.id) == [1, 2, 3, 4])
    }

    @Test func publicInterestPaysNothingWhateverTheRulesOnceVerifiedOrApproved() throws {
        let rules = [rule(1, .publicInterestExemption), rule(2, .usagePlan(baseFeeFen: 10_000, perUnitFen: 5, freeUnits: 0, monthlyMaxFen: 1_000_000))]
        let approval = PurposeApproval(id: UUID(uuidString: "00000000-0000-4000-8000-0000000000a1")!, agencyID: UUID(uuidString: "00000000-0000-4000-8000-0000000000a2")!)
        for purpose in [Purpose.publicGovernance, .publicWelfare] {
            for (purchase, basis) in [(PricedPurchase(quantity: 1_000, purpose: purpose, verifications: [verified(.publicInstitution)]), "verification 00000000-0000-4000-8000-00000000000c"),
                                      (PricedPurchase(quantity: 1_000, purpose: purpose, verifications: [verified(.socialOrganization)]), "a verified social organization"),
                                      (PricedPurchase(quantity: 1_000, purpose: purpose, purposeApproval: approval), "approved by agency 00000000-0000-4000-8000-0000000000a2")] {
                let quote = try Pricing.quote(product(price: 999), purchase, rules: rules, at: now)
                #expect(quote.amountFen == 0 && quote.rules == [.init(id: 1, version: 1)])
                #expect(quote.lines.map(\.step) == ["public_interest_free"] && quote.lines[0].detail.contains(basis), "\(quote.lines)")
            }
            // Self-declared: priced as any other use (the usage plan), with a line saying why; a small or micro
            // enterprise's verification does not vouch for a public-interest purpose.
            for verifications in [[], [verified(.smallMicro)]] {
                let quote = try Pricing.quote(product(price: 999), PricedPurchase(quantity: 1_000, purpose: purpose, verifications: verifications), rules: rules, at: now)
                #expect(quote.lines.first?.step == "public_interest_unverified" && quote.amountFen == 15_000)
            }
        }
    }

    /// A verification counts only until it expires: the same purchase a second later is priced without it.
    @Test func anExpiredVerificationEarnsNothing() throws {
        let rules = [rule(1, .smallMicroDiscount(permille: 100)), rule(2, .publicInterestExemption)]
        let small = PricedPurchase(quantity: 10, purpose: .industryDevelopment, verifications: [verified(.smallMicro, until: now + 1)])
        let before = try Pricing.quote(product(price: 100), small, rules: rules, at: now)
        let after = try Pricing.quote(product(price: 100), small, rules: rules, at: now + 1)
        #expect(before.amountFen == 900 && before.lines.last?.detail.contains("verification 00000000-0000-4000-8000-00000000000c") == true)
        #expect(after.amountFen == 1_000 && !after.lines.contains { $0.step == "small_micro_discount" })
        let institution = PricedPurchase(quantity: 10, purpose: .publicWelfare, verifications: [verified(.publicInstitution, until: now + 1)])
        #expect(try Pricing.quote(product(price: 100), institution, rules: rules, at: now).amountFen == 0)
        #expect(try Pricing.quote(product(price: 100), institution, rules: rules, at: now + 1).amountFen == 1_000)
    }

    @Test func usagePlansAndTrialPrices() throws {
        let plan = rule(1, .usagePlan(baseFeeFen: 1_000, perUnitFen: 10, freeUnits: 100, monthlyMaxFen: 5_000))
        let amounts = try [50, 200, 10_000].map { try Pricing.quote(product(price: 99), PricedPurchase(quantity: $0, purpose: .sectorDevelopment), rules: [plan], at: now).amountFen }
        #expect(amounts == [1_000, 2_000, 5_000])
        let trial = rule(2, .trialPrice(unitPriceFen: 30))
        let young = try Pricing.quote(product(price: 50, since: now - 100 * 86_400), PricedPurchase(quantity: 10, purpose: .industryDevelopment), rules: [trial], at: now)
        #expect(young.amountFen == 300 && young.lines.last?.step == "trial_price")
        let seasoned = try Pricing.quote(product(price: 50, since: now - 400 * 86_400), PricedPurchase(quantity: 10, purpose: .industryDevelopment), rules: [trial], at: now)
        #expect(seasoned.amountFen == 500)
    }

    @Test func theVersionInForceIsTheLatestThatHasTakenEffect() throws {
        let versions = [
            rule(1, .cap(maxUnitPriceFen: 40), version: 1, effective: now - 10 * 86_400),
            rule(1, .cap(maxUnitPriceFen: 30), version: 2, effective: now - 86_400),
            rule(1, .cap(maxUnitPriceFen: 60), version: 3, effective: now + 30 * 86_400),  // announced increase, not yet in force
        ]
        let quote = try Pricing.quote(product(price: 50), PricedPurchase(quantity: 1, purpose: .industryDevelopment), rules: versions, at: now)
        #expect(quote.amountFen == 30 && quote.rules == [.init(id: 1, version: 2)])
        let later = try Pricing.quote(product(price: 50), PricedPurchase(quantity: 1, purpose: .industryDevelopment), rules: versions, at: now + 31 * 86_400)
        #expect(later.amountFen == 50 && later.rules == [.init(id: 1, version: 3)])
        var retired = versions
        retired[1].retiredAt = now - 3600
        #expect(Pricing.rulesInForce(retired, at: now).isEmpty)
    }

    @Test func roundingIsHalfUpToTheFen() throws {
        let rules = [rule(1, .smallMicroDiscount(permille: 333))]
        // 5 × 3 = 15 fen; 333‰ of 15 = 4.995 → 5; 15 − 5 = 10.
        let quote = try Pricing.quote(product(price: 3), PricedPurchase(quantity: 5, purpose: .industryDevelopment, verifications: [verified(.smallMicro)]), rules: rules, at: now)
        #expect(quote.amountFen == 10)
    }

    @Test func badRulesAreRefusedNamingTheField() {
        #expect(throws: MarketInputError.self) { try rule(1, .cap(maxUnitPriceFen: -1)).validate() }
        #expect(throws: MarketInputError.self) { try rule(1, .tiers([.init(from: 1, upTo: 10, unitPriceFen: 5)])).validate() }
        #expect(throws: MarketInputError.self) { try rule(1, .tiers([.init(from: 2, upTo: nil, unitPriceFen: 5)])).validate() }
        #expect(throws: MarketInputError.self) { try rule(1, .smallMicroDiscount(permille: 1_001)).validate() }
        #expect(throws: MarketInputError.self) { try rule(1, .usagePlan(baseFeeFen: 100, perUnitFen: 1, freeUnits: 0, monthlyMaxFen: 50)).validate() }
        #expect(throws: MarketInputError.self) {
            try Pricing.quote(product(price: Int64.max / 2), PricedPurchase(quantity: 3, purpose: .industryDevelopment), rules: [], at: now)
        }
    }

    /// Properties over many generated inputs (a seeded generator, so a failure repeats).
    @Test func propertiesHoldForGeneratedInputs() throws {
        var random = SplitMix64(seed: 20_261_127)
        for _ in 0..<2_000 {
            let cap = Int64(random.next() % 200)
            var rules = [rule(1, .cap(maxUnitPriceFen: cap)), rule(2, .publicInterestExemption)]
            if random.next() % 2 == 0 {
                let split = Int64(1 + random.next() % 500)
                rules.append(rule(3, .tiers([.init(from: 1, upTo: split + 1, unitPriceFen: Int64(random.next() % 300)),
                                             .init(from: split + 1, upTo: nil, multiplierPermille: Int(random.next() % 2_000))])))
            } else if random.next() % 2 == 0 {
                let base = Int64(random.next() % 5_000)
                rules.append(rule(4, .usagePlan(baseFeeFen: base, perUnitFen: Int64(random.next() % 300), freeUnits: Int64(random.next() % 100),
                                                monthlyMaxFen: base + Int64(random.next() % 1_000_000))))
            }
            rules.append(rule(5, .smallMicroDiscount(permille: Int(random.next() % 1_001))))
            rules.append(rule(6, .priorityScenarioDiscount(scenarios: ["logistics"], permille: Int(random.next() % 1_001))))
            rules.append(rule(7, .trialPrice(unitPriceFen: Int64(random.next() % 300))))
            let priced = product(price: Int64(random.next() % 500), since: random.next() % 2 == 0 ? now - 30 * 86_400 : nil)
            let quantity = Int64(1 + random.next() % 2_000)
            let purpose = Purpose.allCases[Int(random.next() % 4)]
            let classes = PartyClass.allCases.filter { _ in random.next() % 2 == 0 }.map { verified($0) }
            let purchase = PricedPurchase(quantity: quantity, purpose: purpose, verifications: classes, scenario: random.next() % 2 == 0 ? "logistics" : nil)
            let quote = try Pricing.quote(priced, purchase, rules: rules, at: now)
            // Never above the cap in force.
            #expect(quote.amountFen <= cap * quantity)
            // Never below zero, and zero for public interest.
            #expect(quote.amountFen >= 0)
            // Zero for public interest on a verified public institution or social organization; priced, and said why, otherwise.
            if purpose.isPublicInterest {
                let vouched = classes.contains { $0.partyClass != .smallMicro }
                if vouched { #expect(quote.amountFen == 0) }
                #expect(quote.lines.contains { $0.step == "public_interest_unverified" } == !vouched)
            }
            // Equal inputs, equal quotes.
            #expect(try Pricing.quote(priced, purchase, rules: rules.reversed(), at: now) == quote)
            // More units never cost less.
            var more = purchase
            more.quantity += Int64(1 + random.next() % 100)
            #expect(try Pricing.quote(priced, more, rules: rules, at: now).amountFen >= quote.amountFen, "\(rules) \(purchase)")
        }
    }
}
