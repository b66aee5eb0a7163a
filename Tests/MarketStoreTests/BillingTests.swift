import Foundation
import Market
import MarketJobs
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// Statements, the settlement ledger and revenue from statements, against the pure pricing engine.
@Suite(.serialized) struct BillingTests {
    /// Rules written long before the month billed (as if announced then): the append-only trigger is set
    /// aside for this one update of the test's own database.
    static func backdateRules(_ market: Market) async throws {
        try await market.pool.withTransaction { connection in
            try await connection.execute("ALTER TABLE pricing_rule_versions DISABLE TRIGGER pricing_rule_versions_append_only")
            try await connection.execute("UPDATE pricing_rule_versions SET effective_at = now() - interval '2 years', review_by = now() + interval '1 year'")
            try await connection.execute("ALTER TABLE pricing_rule_versions ENABLE TRIGGER pricing_rule_versions_append_only")
        }
    }

    /// A delivered order's entitlement (units granted: `quantity`), started before `period` began.
    static func entitlement(_ market: Market, product: UUID, quantity: Int64 = 100_000, purpose: Purpose = .industryDevelopment,
                            startingBefore period: BillingPeriod) async throws -> UUID {
        let seller = Actor.party(market.operatorA.id)
        let order = try await market.store.order(product: product, quantity: quantity, purpose: purpose, buyer: market.demander.id,
                                                 scenario: "traffic_planning", by: .party(market.demander.id))
        try await market.store.changeOrder(order.id, to: .accepted, reason: nil, by: seller)
        try await market.store.changeOrder(order.id, to: .delivered, reason: nil, by: seller)
        try await market.pool.execute("UPDATE entitlements SET starts_at = \(period.start - 86_400 * 10) WHERE order_id = \(order.id)")
        return try #require(try await market.pool.query("SELECT id FROM entitlements WHERE order_id = \(order.id)").scalar(UUID.self))
    }

    @Test func statementsEqualThePureEnginesPriceForRandomUsageHistories() async throws {
        try await withMarket { market in
            let store = market.store
            let product = try await market.listedProduct()
            _ = try await store.addPricingRule(.tiers([.init(from: 1, upTo: 100, unitPriceFen: 50), .init(from: 100, upTo: 1000, unitPriceFen: 40),
                                                       .init(from: 1000, upTo: nil, multiplierPermille: 500)]),
                                               scope: .init(sector: "transport"), reviewBy: Date() + 86_400 * 365, author: "li.wei", reason: "bands")
            _ = try await store.addPricingRule(.priorityScenarioDiscount(scenarios: ["traffic_planning"], permille: 150), reviewBy: Date() + 86_400 * 365,
                                               author: "li.wei", reason: "priority")
            try await Self.backdateRules(market)
            let period = BillingPeriod(containing: try await store.now()).previous
            let seed = UInt64.random(in: 1...UInt64.max)
            var random = SplitMix64(seed: seed)
            var used: [UUID: Int64] = [:]
            var purposes: [UUID: Purpose] = [:]
            for index in 0..<8 {
                let purpose: Purpose = index % 4 == 3 ? .publicWelfare : .industryDevelopment
                let id = try await Self.entitlement(market, product: product.id, purpose: purpose, startingBefore: period)
                purposes[id] = purpose
                // A random history: none to 30 events of 1 to 400 units anywhere in the month.
                let events = (0..<Int.random(in: 0...30, using: &random)).map { n in
                    UsageEvent(eventID: "\(id)-\(n)", entitlementID: id, units: Int64.random(in: 1...400, using: &random),
                               occurredAt: period.start + Double.random(in: 0..<(period.end.timeIntervalSince(period.start)), using: &random))
                }
                guard !events.isEmpty else { continue }
                let receipt = try await store.recordUsage(events, seller: market.operatorA.id)
                #expect(receipt.accepted == events.count && receipt.refused.isEmpty, "seed \(seed)")
                used[id] = events.map(\.units).reduce(0, +)
            }
            let closes = try await store.closePeriods(through: period, by: "li.wei")
            #expect(closes.last?.period == period && closes.last?.issued == used.count, "seed \(seed)")
            let statements = try await store.statements(of: market.demander.id, period: period, limit: 100)
            #expect(statements.count == used.count && Set(statements.map(\.entitlementID)) == Set(used.keys), "seed \(seed)")
            let rules = try await store.pricingRuleVersions()
            let version = try await store.product(product.id).current
            for statement in statements {
                let units = try #require(used[statement.entitlementID])
                let expected = try Pricing.quote(PricedProduct(id: product.id, operatorID: market.operatorA.id, version: version),
                                                 PricedPurchase(quantity: units, purpose: purposes[statement.entitlementID]!, scenario: "traffic_planning"),
                                                 rules: rules, at: period.start)
                #expect(statement.units == units && statement.amountFen == expected.amountFen && statement.lines == expected.lines
                        && statement.rules == expected.rules, "seed \(seed): \(statement.lines) against \(expected.lines)")
                #expect(statement.kind == .regular && statement.pricedAt == period.start && statement.sellerID == market.operatorA.id)
            }
            #expect(statements.contains { $0.lines.contains { $0.step == "tiers" } }, "seed \(seed)")
            // The ledger balances, and buyers owe exactly what statements say.
            let settlement = try await store.settlementReport(period)
            let total = Decimal(statements.map(\.amountFen).reduce(0, +))
            #expect(settlement.balanced && settlement.debitsFen == total && settlement.creditsFen == total)
            #expect(settlement.lines.first { $0.account == "buyer" }?.netFen == -total)

            // Closed: again is nothing new; usage in it is refused; statements and entries never change.
            let again = try await store.closePeriods(through: period, by: "li.wei")
            #expect(again.last?.alreadyClosed == true && again.last?.issued == 0)
            let late = try await store.recordUsage([UsageEvent(eventID: "late", entitlementID: try #require(used.keys.first), units: 1,
                                                               occurredAt: period.end - 60)], seller: market.operatorA.id)
            #expect(late.refused.map(\.reason) == [.periodClosed])
            let first = try #require(statements.first)
            await #expect(throws: (any Error).self) { try await market.pool.execute("UPDATE statements SET amount_fen = 0 WHERE id = \(first.id)") }
            await #expect(throws: (any Error).self) { try await market.pool.execute("DELETE FROM ledger_entries WHERE statement_id = \(first.id)") }
            await #expect(throws: (any Error).self) {
                try await market.pool.execute("""
                    INSERT INTO ledger_entries (statement_id, period, party_id, account, amount_fen) VALUES (\(first.id), \(period.first), \(market.operatorA.id), 'seller', 1)
                    """)
            }
            // A correction is a new statement; the ledger still balances; nothing goes below zero.
            let paid = try #require(statements.first { $0.amountFen > 100 })
            let credit = try await store.adjustStatement(paid.id, amountFen: -100, reason: "outage on the 14th", by: "li.wei")
            #expect(credit.kind == .adjusting && credit.adjusts == paid.id && credit.amountFen == -100 && credit.period == period)
            let corrected = try await store.settlementReport(period)
            #expect(corrected.balanced && corrected.debitsFen == total - 100)
            await #expect(throws: MarketInputError.self) { try await store.adjustStatement(paid.id, amountFen: -paid.amountFen, reason: "too much", by: "li.wei") }
            await #expect(throws: MarketInputError.self) { try await store.adjustStatement(credit.id, amountFen: 5, reason: "of a correction", by: "li.wei") }
            // A month not over cannot close.
            await #expect(throws: MarketInputError.self) { try await store.closePeriods(through: period.next, by: "li.wei") }
            // The last month input may name is refused as not over, not a crash computing its end.
            await #expect(throws: MarketInputError.self) { try await store.closePeriods(through: try BillingPeriod("2200-12"), by: "li.wei") }
            let (lastMonth, firstMonth) = (try BillingPeriod("2200-12"), try BillingPeriod("2000-01"))
            #expect(lastMonth.next.description == "2201-01" && firstMonth.previous.description == "1999-12")
        }
    }

    @Test func theAgencysShareIsSettledAndAnOperatorPastItsAllowanceIsReportedOnce() async throws {
        try await withMarket { market in
            let store = market.store
            let product = try await market.listedProduct()
            // As if granted with a share of 150‰.
            try await market.pool.execute("UPDATE authorizations SET agency_share_permille = 150 WHERE id = \(market.grantA.id)")
            let period = BillingPeriod(containing: try await store.now()).previous
            let id = try await Self.entitlement(market, product: product.id, startingBefore: period)
            _ = try await store.recordUsage([UsageEvent(eventID: "a", entitlementID: id, units: 333, occurredAt: period.start + 60)], seller: market.operatorA.id)
            try await store.setRevenueAllowance(operator: market.operatorA.id, year: period.year, allowanceFen: 10_000, author: "li.wei", reason: "approved")
            _ = try await store.setAdminWebhook(url: try await store.checkWebhook("https://hooks.example.com/admin", policy: .development), author: "li.wei")
            try await store.closePeriods(through: period, by: "li.wei")
            let statement = try #require(try await store.statements(of: market.operatorA.id, period: period).first)
            #expect(statement.amountFen == 333 * 50 && statement.agencyShareFen == (333 * 50 * 150 + 500) / 1000 && statement.agencyID == market.agency.id)
            let settlement = try await store.settlementReport(period)
            #expect(settlement.balanced)
            #expect(settlement.lines.first { $0.account == "agency" }?.netFen == Decimal(statement.agencyShareFen))
            #expect(settlement.lines.first { $0.account == "seller" }?.netFen == Decimal(statement.amountFen - statement.agencyShareFen))
            // Revenue comes from statements: 16,650 fen against 10,000 allowed; administrators hear once.
            let revenue = try #require(try await store.revenueReport(year: period.year).first { $0.operatorID == market.operatorA.id })
            #expect(revenue.revenueFen == 16_650 && revenue.overageFen == 6_650)
            let alerts = try await market.pool.query("SELECT args::text FROM pdx_jobs WHERE kind = 'notify' AND args ->> 'type' = 'revenue.over_allowance'")
                .decode(String.self).map { try JSONDecoder().decode(NotifyJob.self, from: Data($0.utf8)) }
            #expect(alerts.count == 1 && alerts.first?.subjectID == market.operatorA.id)
            let event = try await store.webhookEvent(try #require(alerts.first))
            #expect(event.data.operatorID == market.operatorA.id.uuidString.lowercased() && event.data.amountFen == 16_650)
            #expect(try await store.adminWebhook()?.url == "https://hooks.example.com/admin")

            // The commands say the same.
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            let report = try await runBuilt("pdxctl", ["settlement", "report", "--period", "\(period)", "--database-url", url])
            #expect(report.status == 0 && report.output.contains("balanced") && report.output.contains("agency"), "\(report.output)\(report.error)")
            let closed = try await runBuilt("pdxctl", ["billing", "close", "--period", "\(period)", "--database-url", url])
            #expect(closed.status == 0 && closed.output.contains("already closed"), "\(closed.output)\(closed.error)")
            let bad = try await runBuilt("pdxctl", ["billing", "close", "--period", "2026-13", "--database-url", url])
            #expect(bad.status != 0 && bad.error.contains("--period"))
            let adjust = try await runBuilt("pdxctl", ["billing", "adjust", "--statement", statement.id.uuidString, "--amount-fen=-50",
                                                       "--reason", "goodwill", "--database-url", url])
            #expect(adjust.status == 0 && adjust.output.contains("-50 fen"), "\(adjust.output)\(adjust.error)")
            let keys = try await runBuilt("pdxctl", ["signing-keys", "rotate", "--reason", "first key", "--database-url", url])
            #expect(keys.status == 0 && keys.output.contains("signing with pdx-"), "\(keys.output)\(keys.error)")
            let list = try await runBuilt("pdxctl", ["signing-keys", "list", "--json", "--database-url", url])
            #expect(list.status == 0 && list.output.contains("\"published\" : true"), "\(list.output)")
            #expect(!list.output.contains("private"))
        }
    }
}
