import Foundation
import JobQueue
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing
import MarketJobs

/// The rules of DOMAIN.md against real PostgreSQL, one test (at least) per rule.
@Suite struct RuleTests {
    // MARK: Rule 1: scope

    @Test func aProductInsideItsAuthorizationIsListedAndQueuedForMatching() async throws {
        try await withMarket { market in
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: .party(market.operatorA.id))
            try await market.store.list(product.id, by: .party(market.operatorA.id))
            #expect(try await market.store.product(product.id).state == .listed)
            #expect(try await jobs(market.pool, kind: MatchProductJob.kind).count == 1)
            #expect(try await auditActions(market.pool, subject: product.id) == ["product.create", "product.list"])
        }
    }

    @Test func aProductCitingAResourceOutsideItsAuthorizationIsRefused() async throws {
        try await withMarket { market in
            let weather = try await market.store.registerResource(
                NewResource(title: "气象观测 weather observations", sector: "meteorology", regionCode: "310000", grade: .general),
                agency: market.agency.id, by: Market.admin)
            let rule = await violatedRule {
                _ = try await market.store.createProduct(productVersion([market.general, weather]), operator: market.operatorA.id,
                                                         authorization: market.grantA.id, by: .party(market.operatorA.id))
            }
            #expect(rule == .scope)
            // Another operator cannot publish under A's authorization either.
            #expect(await violatedRule {
                _ = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorB.id,
                                                         authorization: market.grantA.id, by: .party(market.operatorB.id))
            } == .scope)
            #expect(try await market.pool.query("SELECT count(*) FROM products").scalar(Int.self) == 0)
        }
    }

    @Test func revocationDelistsItsProductsAndWithdrawsTheirMatchesInOneStep() async throws {
        try await withMarket { market in
            let actor = Actor.party(market.operatorA.id)
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: actor)
            try await market.store.list(product.id, by: actor)
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            let quote = try Quote.atListPrice(of: product.current, quantity: 1_000, purpose: .industryDevelopment)
            let match = try await market.store.propose(NewMatch(demandID: demand, productID: product.id, productVersion: 1, score: 0.9, quote: quote))
            #expect(try await market.store.demandState(demand) == .matched)

            // A revocation without a reason is refused, and changes nothing.
            await #expect(throws: MarketInputError.self) {
                try await market.store.changeAuthorization(market.grantA.id, to: .revoked, reason: " ", by: Market.admin)
            }
            let change = try await market.store.changeAuthorization(market.grantA.id, to: .revoked, reason: "运营违规 breach of terms", by: Market.admin)
            #expect(change.delistedProducts == [product.id])
            #expect(change.withdrawnMatches == [match])
            #expect(try await market.store.product(product.id).state == .delisted)
            #expect(try await market.pool.query("SELECT state::text FROM matches WHERE id = \(match)").scalar(String.self) == "withdrawn")
            #expect(try await market.store.demandState(demand) == .open)
            let reasons = try await market.pool.query("""
                SELECT reason FROM authorization_state_changes WHERE authorization_id = \(market.grantA.id) AND to_state = 'revoked'
                """).decode(String.self)
            #expect(reasons == ["运营违规 breach of terms"])
            // Nothing can be listed under it any more.
            #expect(await violatedRule {
                _ = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                         authorization: market.grantA.id, by: actor)
            } == .scope)
            // Revoked is final.
            await #expect(throws: TransitionRefused.self) {
                try await market.store.changeAuthorization(market.grantA.id, to: .active, reason: nil, by: Market.admin)
            }
        }
    }

    // MARK: Rule 2: authorization mode

    @Test func twoAgenciesGrantingTheSameSingleOperatorScopeAtOnceExactlyOneWins() async throws {
        try await withMarket { market in
            let transportMinistry = try await market.store.registerParty(
                NewParty(kind: .agency, name: "交通运输部 Ministry of Transport", creditCode: uniqueCreditCode(region: "110000"), regionCode: "110000"),
                by: Market.admin)
            let grants = [
                authorization(agency: market.agency, operator: market.operatorB, mode: .single, regions: [Market.beijing]),
                authorization(agency: transportMinistry, operator: market.operatorA, mode: .single, regions: [Market.beijing]),
            ]
            let outcomes = try await withThrowingTaskGroup(of: PolicyViolation.Rule?.self) { group in
                for grant in grants {
                    group.addTask { await violatedRule { _ = try await market.store.grant(grant, by: Market.admin) } }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == nil }.count == 1)
            #expect(outcomes.filter { $0 == .singleOperator }.count == 1)
            #expect(try await market.pool.query("SELECT count(*) FROM authorizations WHERE regions = ARRAY['110000']").scalar(Int.self) == 1)
        }
    }

    @Test func singleOperatorScopesExcludeEveryOverlapWhileMultiOperatorScopesShare() async throws {
        try await withMarket { market in
            // grantA is multi-operator in (transport, 310000): another multi grant may share it.
            _ = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorB, mode: .multi), by: Market.admin)
            // A single-operator grant over a shared scope is refused…
            #expect(await violatedRule {
                _ = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorB, mode: .single), by: Market.admin)
            } == .singleOperator)
            // …but one in another region, or after the others end, is not.
            let single = try await market.store.grant(
                authorization(agency: market.agency, operator: market.operatorB, mode: .single, regions: [Market.beijing]), by: Market.admin)
            _ = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorA, mode: .single,
                                                           regions: [Market.beijing], from: Date() + 400 * 86_400), by: Market.admin)
            // Once revoked, its scope is free again.
            #expect(await violatedRule {
                _ = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorA, mode: .multi,
                                                               regions: [Market.beijing]), by: Market.admin)
            } == .singleOperator)
            try await market.store.changeAuthorization(single.id, to: .revoked, reason: "returned", by: Market.admin)
            _ = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorA, mode: .multi,
                                                           regions: [Market.beijing]), by: Market.admin)
        }
    }

    @Test func termsLongerThanFiveYearsAreRefusedByTheStoreAndTheDatabase() async throws {
        try await withMarket { market in
            await #expect(throws: MarketInputError.self) {
                _ = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorB, mode: .multi, days: 5 * 366),
                                                 by: Market.admin)
            }
            await #expect {
                try await market.pool.execute("""
                    INSERT INTO authorizations (agency_id, operator_id, sectors, regions, scenarios, mode, validity)
                    VALUES (\(market.agency.id), \(market.operatorB.id), '{transport}', '{310000}', '{logistics}', 'multi',
                            tstzrange(now(), now() + interval '6 years'))
                    """)
            } throws: { ($0 as? PostgresError)?.constraint == "authorizations_validity_ok" }
            // Only an operator can be authorized.
            await #expect(throws: MarketInputError.self) {
                _ = try await market.store.grant(authorization(agency: market.agency, operator: market.demander, mode: .multi), by: Market.admin)
            }
        }
    }

    // MARK: Rule 3: grading

    @Test func coreDataIsRefusedEvenWhenTheStoreIsBypassed() async throws {
        try await withMarket { market in
            #expect(await violatedRule {
                _ = try await market.store.createProduct(productVersion([market.core], modes: [.sandbox]), operator: market.operatorA.id,
                                                         authorization: market.grantA.id, by: .party(market.operatorA.id))
            } == .coreData)
            // The database refuses it too, for writers that skip the store.
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: .party(market.operatorA.id))
            await #expect {
                try await market.pool.execute("""
                    INSERT INTO product_version_sources (product_id, version, resource_id) VALUES (\(product.id), 1, \(market.core.id))
                    """)
            } throws: { ($0 as? PostgresError)?.constraint == "grading_core" }
        }
    }

    @Test func importantDataOnlyInASandbox() async throws {
        try await withMarket { market in
            let actor = Actor.party(market.operatorA.id)
            #expect(await violatedRule {
                _ = try await market.store.createProduct(productVersion([market.important], modes: [.api]), operator: market.operatorA.id,
                                                         authorization: market.grantA.id, by: actor)
            } == .importantData)
            let sandboxed = try await market.store.createProduct(productVersion([market.important], modes: [.sandbox]),
                                                                 operator: market.operatorA.id, authorization: market.grantA.id, by: actor)
            // Adding API delivery to the draft afterwards is refused, by the store and by the database.
            #expect(await violatedRule {
                try await market.store.updateDraft(sandboxed.id, with: productVersion([market.important], modes: [.sandbox, .api]), by: actor)
            } == .importantData)
            await #expect {
                try await market.pool.execute("UPDATE product_versions SET delivery_modes = '{sandbox,api}' WHERE product_id = \(sandboxed.id)")
            } throws: { ($0 as? PostgresError)?.constraint == "grading_important" }
        }
    }

    @Test func personalInformationOnlyAfterARecordedDeidentification() async throws {
        try await withMarket { market in
            let actor = Actor.party(market.operatorA.id)
            #expect(await violatedRule {
                _ = try await market.store.createProduct(productVersion([market.personal]), operator: market.operatorA.id,
                                                         authorization: market.grantA.id, by: actor)
            } == .personalInformation)
            try await market.store.recordDeidentification(of: market.personal.id, method: "k-匿名 k-anonymity, k=20",
                                                          performedBy: "数据安全部 data security office", by: Market.admin)
            _ = try await market.store.createProduct(productVersion([market.personal]), operator: market.operatorA.id,
                                                     authorization: market.grantA.id, by: actor)
            #expect(try await auditActions(market.pool, subject: market.personal.id) == ["resource.register", "resource.deidentify"])
        }
    }

    // MARK: Rule 4: anti-monopoly

    @Test func anOperatorCannotBuyInsideItsOwnScopeWhileAnotherOperatorMay() async throws {
        try await withMarket { market in
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: .party(market.operatorA.id))
            try await market.store.list(product.id, by: .party(market.operatorA.id))
            // Operator B holds a grant in the same scope: it may not buy A's product there.
            let grantB = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorB, mode: .multi), by: Market.admin)
            #expect(await violatedRule {
                _ = try await market.store.order(product: product.id, quantity: 10, purpose: .industryDevelopment,
                                                 buyer: market.operatorB.id, scenario: "traffic_planning", by: .party(market.operatorB.id))
            } == .antiMonopoly)
            #expect(await violatedRule {
                _ = try await market.store.order(product: product.id, quantity: 10, purpose: .industryDevelopment,
                                                 buyer: market.operatorA.id, scenario: "traffic_planning", by: .party(market.operatorA.id))
            } == .antiMonopoly)
            // Once B's grant there ends, B is an ordinary buyer and may re-develop the product.
            try await market.store.changeAuthorization(grantB.id, to: .revoked, reason: "scope returned", by: Market.admin)
            let order = try await market.store.order(product: product.id, quantity: 10, purpose: .industryDevelopment,
                                                     buyer: market.operatorB.id, scenario: "traffic_planning", by: .party(market.operatorB.id))
            #expect(order.amountFen == 500)
            // And a demander may always buy.
            _ = try await market.store.order(product: product.id, quantity: 1, purpose: .industryDevelopment,
                                             buyer: market.demander.id, scenario: "traffic_planning", by: .party(market.demander.id))
        }
    }

    // MARK: Rule 5: public interest is free (the pricing engine comes with the pricing issue)

    @Test func publicWelfareOrdersAreFreeAndTheDatabaseRefusesOtherwise() async throws {
        try await withMarket { market in
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: .party(market.operatorA.id))
            try await market.store.list(product.id, by: .party(market.operatorA.id))
            _ = try await market.store.verifyParty(market.demander.id, as: .publicInstitution, evidence: "事业单位法人证书", expiresAt: Date() + 86_400,
                                                   by: Market.admin)
            let order = try await market.store.order(product: product.id, quantity: 100, purpose: .publicWelfare,
                                                     buyer: market.demander.id, scenario: "traffic_planning", by: .party(market.demander.id))
            #expect(order.amountFen == 0)
            #expect(try await market.store.order(order.id).quote.lines.last?.step == "public_interest_free")
            await #expect {
                try await market.pool.execute("UPDATE orders SET amount_fen = 1 WHERE id = \(order.id)")
            } throws: { ($0 as? PostgresError)?.constraint == "orders_public_interest_free" }
        }
    }

    // MARK: Rule 6: audit

    @Test func auditEventsCannotBeChangedOrDeleted() async throws {
        try await withMarket { market in
            let count = try await market.pool.query("SELECT count(*) FROM audit_events").scalar(Int.self) ?? 0
            #expect(count >= 9)  // four parties, four resources, one grant
            for statement: PostgresQuery in ["UPDATE audit_events SET reason = 'edited'", "DELETE FROM audit_events", "TRUNCATE audit_events"] {
                await #expect {
                    try await market.pool.execute(statement)
                } throws: { ($0 as? PostgresError)?.constraint == "audit_events_append_only" }
            }
            #expect(try await market.pool.query("SELECT count(*) FROM audit_events").scalar(Int.self) == count)
            let grant = try await market.pool.query("""
                SELECT actor, action FROM audit_events WHERE subject_id = \(market.grantA.id.uuidString.lowercased())
                """).decode(String.self, String.self)
            #expect(grant.map(\.1) == ["authorization.grant"])
            #expect(grant.first?.0 == "admin:test")
        }
    }
}
