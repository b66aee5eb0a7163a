import Foundation
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// The rules of joining and leaving, on every path that can break them: suspension and closure, verified
/// classes and their expiry, affiliations through two levels (in matching, at order time and in the database).
@Suite struct MembershipRuleTests {
    @Test func aSuspendedPartyIsFrozenOnEveryPathAndReinstatingRestoresIt() async throws {
        try await withMarket { market in
            let product = try await market.listedProduct()
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            _ = try await market.store.matchDemand(demand)
            #expect(try await market.store.demandState(demand) == .matched)
            let change = try await market.store.changeParty(market.demander.id, to: .suspended, reason: "fraud inquiry", by: Market.admin)
            #expect(change.withdrawnMatches.count == 1 && change.state == .suspended)
            #expect(try await market.store.demandState(demand) == .open, "the demand waits, open")
            // Nothing new from it: a demand, an order; matching skips its demand.
            await #expect(throws: PartyNotActive.self) {
                _ = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            }
            await #expect(throws: PartyNotActive.self) {
                _ = try await market.store.order(product: product.id, quantity: 1, purpose: .industryDevelopment, buyer: market.demander.id, scenario: "traffic_planning",
                                                 by: .party(market.demander.id))
            }
            #expect(try await market.store.matchDemand(demand).proposed.isEmpty)
            // Behind the store: the database refuses too.
            await #expect { try await market.pool.execute("""
                INSERT INTO demands (demander_id, title, sector, scenario, purpose, regions, fields_wanted, quantity, budget_fen, delivery_modes, expires_at)
                VALUES (\(market.demander.id), 'x', 'transport', 'logistics', 'industry_development', '{310000}', '{speed}', 1, 1, '{api}', now() + interval '1 day')
                """) } throws: { ($0 as? PostgresError)?.constraint == "party_not_active" }
            // An operator suspended: its product leaves the catalogue and cannot be listed or proposed.
            try await market.store.changeParty(market.operatorA.id, to: .suspended, reason: "licence review", by: Market.admin)
            #expect(try await market.pool.query("SELECT count(*) FROM catalogue").scalar(Int64.self) == 0)
            await #expect(throws: PartyNotActive.self) {
                _ = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id, authorization: market.grantA.id,
                                                         by: .party(market.operatorA.id))
            }
            // Reinstated: back in the catalogue, offered to matching again (jobs enqueued), and matched.
            let back = try await market.store.changeParty(market.demander.id, to: .active, reason: "cleared", by: Market.admin)
            #expect(back.rematched == 1)
            try await market.store.changeParty(market.operatorA.id, to: .active, reason: "licence renewed", by: Market.admin)
            #expect(try await market.pool.query("SELECT count(*) FROM catalogue").scalar(Int64.self) == 1)
            #expect(try await market.store.matchDemand(demand).proposed.count == 1)
            // Closed: final; its demand is cancelled and its records kept.
            try await market.store.changeParty(market.demander.id, to: .closed, reason: "dissolved", by: Market.admin)
            #expect(try await market.store.demandState(demand) == .cancelled)
            await #expect(throws: TransitionRefused.self) {
                try await market.store.changeParty(market.demander.id, to: .active, reason: "undo", by: Market.admin)
            }
            await #expect { try await market.pool.execute("UPDATE parties SET name = 'renamed' WHERE id = \(market.demander.id)") }
                throws: { ($0 as? PostgresError)?.constraint == "party_closed_final" }
            await #expect(throws: PartyNotActive.self) { _ = try await market.store.createAPIKey(party: market.demander.id, by: Market.admin) }
            // An agency closed: the authorizations it granted are revoked, and the products built on them delisted.
            let closed = try await market.store.changeParty(market.agency.id, to: .closed, reason: "merged into another bureau", by: Market.admin)
            #expect(closed.revokedAuthorizations == [market.grantA.id] && closed.delistedProducts == [product.id])
            #expect(try await market.store.authorization(market.grantA.id).state == .revoked)
        }
    }

    /// A proposal being written while its demander is suspended: either it commits first and the suspension,
    /// waiting for it (the proposal holds the demander's row FOR KEY SHARE, which the suspension's FOR UPDATE waits for), withdraws it; or it waits and is refused.
    @Test func aSuspensionAndAProposalInFlightNeverLeaveALiveProposal() async throws {
        try await withMarket { market in
            let product = try await market.listedProduct()
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            let proposing = try await market.pool.withConnection { connection in
                try await connection.execute("BEGIN")
                try await connection.execute("""
                    INSERT INTO matches (demand_id, product_id, product_version, score, quote_fen) VALUES (\(demand), \(product.id), 1, 0.5, 0)
                    """)
                // The suspension starts now and must wait for this transaction.
                let suspension = Task { try await market.store.changeParty(market.demander.id, to: .suspended, reason: "inquiry", by: Market.admin) }
                try await Task.sleep(for: .milliseconds(300))
                try await connection.execute("COMMIT")
                return suspension
            }
            let change = try await proposing.value
            #expect(change.withdrawnMatches.count == 1, "the committed proposal was seen and withdrawn")
            #expect(try await market.pool.query("SELECT count(*) FROM matches WHERE demand_id = \(demand) AND state = 'proposed'").scalar(Int64.self) == 0)
            // And the other way round: a proposal written after the suspension is refused by the database.
            await #expect { try await market.pool.execute("""
                INSERT INTO matches (demand_id, product_id, product_version, score, quote_fen) VALUES (\(demand), \(product.id), 1, 0.5, 0)
                """) } throws: { ($0 as? PostgresError)?.constraint == "party_not_active" }
        }
    }

    @Test func aVerificationEarnsItsDiscountUntilItExpires() async throws {
        try await withMarket { market in
            let product = try await market.listedProduct()
            _ = try await market.store.addPricingRule(.smallMicroDiscount(permille: 100), reviewBy: Date() + 86_400 * 365, author: "li.wei", reason: "SME")
            func amount() async throws -> Int64 {
                try await market.store.quote(product: product.id, quantity: 100, purpose: .industryDevelopment, buyer: market.demander.id).amountFen
            }
            #expect(try await amount() == 5_000, "unverified: no discount")
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            _ = try await market.store.matchDemand(demand)
            let verification = try await market.store.verifyParty(market.demander.id, as: .smallMicro, evidence: "MIIT 2026-031",
                                                                  expiresAt: Date() + 600, by: Market.admin)
            #expect(try await amount() == 4_500)
            // The live proposal was priced again at once; a job will price it again when the verification lapses.
            #expect(try await market.pool.query("SELECT quote_fen FROM matches WHERE demand_id = \(demand)").scalar(Int64.self) == 45_000)
            #expect(try await market.pool.query("""
                SELECT count(*) FROM pdx_jobs WHERE kind = 'reprice_buyer' AND scheduled_at >= \(verification.verification.expiresAt)
                """).scalar(Int64.self) == 1)
            // Time passes (the verification's end brought forward rather than waited for).
            try await market.pool.execute("UPDATE party_verifications SET expires_at = verified_at + interval '1 millisecond' WHERE id = \(verification.verification.id)")
            #expect(try await amount() == 5_000, "expired: no discount")
            let repriced = try await market.store.repriceProposedMatches(demander: market.demander.id, reason: "verification expired")
            #expect(repriced.repriced == 1)
            // Verified again, then withdrawn before its expiry: the proposal follows each time.
            let again = try await market.store.verifyParty(market.demander.id, as: .smallMicro, evidence: "MIIT 2027-002", expiresAt: Date() + 600,
                                                           by: Market.admin)
            #expect(try await market.pool.query("SELECT quote_fen FROM matches WHERE demand_id = \(demand)").scalar(Int64.self) == 45_000)
            try await market.store.revokeVerification(again.verification.id, reason: "the classification was withdrawn", by: Market.admin)
            #expect(try await amount() == 5_000)
            #expect(try await market.pool.query("SELECT quote_fen FROM matches WHERE demand_id = \(demand)").scalar(Int64.self) == 50_000)
            await #expect(throws: TransitionRefused.self) {
                try await market.store.revokeVerification(again.verification.id, reason: "twice", by: Market.admin)
            }
            #expect(try await market.pool.query("SELECT quote_fen FROM matches WHERE demand_id = \(demand)").scalar(Int64.self) == 50_000)
        }
    }

    /// Rule 4 through two levels: the demander is a subsidiary of a holding that is the parent of operator A.
    /// It may not buy operator B's product inside operator A's scope: matching never proposes it, an order is
    /// refused, and so is a row written behind the store's back.
    @Test func anAffiliateTwoLevelsAwayBuysAsTheOperatorWould() async throws {
        try await withMarket { market in
            let holding = try await market.store.registerParty(NewParty(kind: .demander, name: "控股集团 holding", creditCode: uniqueCreditCode(),
                                                                        regionCode: "310000"), by: Market.admin)
            let grantB = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorB, mode: .multi), by: Market.admin)
            let productB = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorB.id, authorization: grantB.id,
                                                                by: .party(market.operatorB.id))
            try await market.store.list(productB.id, by: .party(market.operatorB.id))
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            _ = try await market.store.matchDemand(demand)
            #expect(try await market.pool.query("SELECT count(*) FROM matches WHERE demand_id = \(demand) AND state = 'proposed'").scalar(Int64.self) == 1)
            // Two links: holding → operator A (parent), demander → holding (subsidiary). The live proposal is withdrawn at once.
            _ = try await market.store.affiliate(holding.id, with: market.operatorA.id, relation: .parent, reason: "holds 70%", by: Market.admin)
            _ = try await market.store.affiliate(market.demander.id, with: holding.id, relation: .subsidiary, reason: "wholly owned", by: Market.admin)
            #expect(try await market.pool.query("SELECT count(*) FROM matches WHERE demand_id = \(demand) AND state = 'proposed'").scalar(Int64.self) == 0)
            #expect(try await market.store.matchDemand(demand).proposed.isEmpty, "matching never proposes it")
            await #expect {
                _ = try await market.store.order(product: productB.id, quantity: 1, purpose: .industryDevelopment, buyer: market.demander.id, scenario: "traffic_planning",
                                                 by: .party(market.demander.id))
            } throws: { ($0 as? PolicyViolation)?.rule == .antiMonopoly && "\($0)".contains("affiliated operator \(market.operatorA.id.uuidString.lowercased())") }
            await #expect {
                try await market.pool.execute("""
                    INSERT INTO orders (buyer_id, product_id, product_version, quantity, purpose, quote, amount_fen)
                    VALUES (\(market.demander.id), \(productB.id), 1, 1, 'industry_development', '{}', 0)
                    """)
            } throws: { ($0 as? PostgresError)?.constraint == "anti_monopoly" }
            await #expect {
                try await market.pool.execute("""
                    INSERT INTO matches (demand_id, product_id, product_version, score, quote_fen) VALUES (\(demand), \(productB.id), 1, 0.5, 0)
                    """)
            } throws: { ($0 as? PostgresError)?.constraint == "anti_monopoly" }
            // Ended, the demander buys like anyone.
            try await market.store.unaffiliate(market.demander.id, from: holding.id, reason: "sold", by: Market.admin)
            #expect(try await market.store.matchDemand(demand).proposed.count == 1)
            #expect(try await market.store.proposalsBreakingHardRules() == 0)
        }
    }
}
