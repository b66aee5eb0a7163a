import Foundation
import JobQueue
import Logging
import Market
import MarketStore
import MarketWorkers
import PDXTestSupport
import Postgres
import Testing
import MarketJobs

/// The hard rules of matching, on both paths (a demand meets the catalogue; a product meets the open
/// demands): a product that breaks one is never proposed, whatever its score.
@Suite struct MatchingHardRuleTests {
    @Test func aProductBreakingAnyHardRuleIsNeverProposedOnEitherPath() async throws {
        try await withMarket { market in
            let store = market.store
            let operatorC = try await store.registerParty(NewParty(kind: .operator, name: "数据运营丙 Operator C", creditCode: uniqueCreditCode(),
                                                                   regionCode: "310000"), by: Market.admin)
            func resource(_ sector: String, _ region: String, _ grade: ResourceGrade = .general) async throws -> DataResource {
                try await store.registerResource(NewResource(title: "\(sector) \(region)", sector: sector, regionCode: region, grade: grade),
                                                 agency: market.agency.id, by: Market.admin)
            }
            let beijingTraffic = try await resource("transport", "110000")
            let finance = try await resource("finance", "310000")
            let grantB = try await store.grant(authorization(agency: market.agency, operator: market.operatorB, mode: .multi,
                                                             sectors: ["transport", "finance"], regions: [Market.shanghai, Market.beijing]),
                                               by: Market.admin)
            let grantC = try await store.grant(authorization(agency: market.agency, operator: operatorC, mode: .multi), by: Market.admin)
            func listed(_ version: ProductVersion, _ seller: Party, _ grant: Authorization) async throws -> UUID {
                let product = try await store.createProduct(version, operator: seller.id, authorization: grant.id, by: .party(seller.id))
                try await store.list(product.id, by: .party(seller.id))
                return product.id
            }
            // Demands first, so that the product path can be checked too.
            var apiOnly = demandRequest(budget: 1_000_000)
            apiOnly.deliveryModes = [.api]
            let demand = try await store.postDemand(apiOnly, demander: market.demander.id, open: true, by: .party(market.demander.id))
            // An operator's own demand, inside its own authorized scope (transport, Shanghai).
            let operatorsDemand = try await store.postDemand(apiOnly, demander: market.operatorA.id, open: true, by: .party(market.operatorA.id))

            let compliantA = try await listed(productVersion([market.general]), market.operatorA, market.grantA)
            let compliantB = try await listed(productVersion([market.general]), market.operatorB, grantB)
            var wrongSector = productVersion([finance])
            wrongSector.sector = "finance"
            let sector = try await listed(wrongSector, market.operatorB, grantB)
            var elsewhere = productVersion([beijingTraffic])
            elsewhere.regions = [Market.beijing]
            let region = try await listed(elsewhere, market.operatorB, grantB)
            let mode = try await listed(productVersion([market.general], modes: [.file]), market.operatorA, market.grantA)
            // Important data is sold only in a sandbox, which this demand does not accept.
            let grade = try await listed(productVersion([market.important], modes: [.sandbox]), market.operatorA, market.grantA)
            let budget = try await listed(productVersion([market.general], price: 5_000), market.operatorA, market.grantA)
            let unauthorized = try await listed(productVersion([market.general]), operatorC, grantC)
            try await store.changeAuthorization(grantC.id, to: .suspended, reason: "audit pending", by: Market.admin)

            let breaking = [sector, region, mode, grade, budget, unauthorized]
            func proposed(to demand: UUID) async throws -> Set<UUID> {
                Set(try await market.pool.query("SELECT product_id FROM matches WHERE demand_id = \(demand) AND state = 'proposed'").decode(UUID.self))
            }
            // The product path: each product offered to the open demands.
            for product in [compliantA, compliantB] + breaking { _ = try await store.matchProduct(product) }
            #expect(try await proposed(to: demand) == [compliantA, compliantB])
            #expect(try await proposed(to: operatorsDemand).isEmpty, "anti-monopoly: nothing inside operator A's own scope")
            // The demand path, from scratch.
            try await market.pool.execute("DELETE FROM matches")
            _ = try await store.matchDemand(demand)
            _ = try await store.matchDemand(operatorsDemand)
            #expect(try await proposed(to: demand) == [compliantA, compliantB])
            #expect(try await proposed(to: operatorsDemand).isEmpty)
            // Nor does a row written behind the store's back (the proposals' statement trigger, for an operator).
            await #expect {
                try await market.pool.execute("""
                    INSERT INTO matches (demand_id, product_id, product_version, score, quote_fen) VALUES (\(operatorsDemand), \(compliantB), 1, 0.5, 0)
                    """)
            } throws: { ($0 as? PostgresError)?.constraint == "anti_monopoly" }
            // The same products do reach a demand that accepts them: the rules, not the fixtures, kept them out.
            var open = demandRequest(budget: 100_000_000)
            open.deliveryModes = [.api, .file, .sandbox]
            let broad = try await store.postDemand(open, demander: market.demander.id, open: true, by: .party(market.demander.id))
            _ = try await store.matchDemand(broad)
            #expect(try await proposed(to: broad).isSuperset(of: [mode, grade, budget]))
            #expect(try await proposed(to: broad).isDisjoint(with: [sector, region, unauthorized]))
        }
    }

    /// The proposals' statement trigger asks the anti-monopoly function (~20 µs a call) only about demanders
    /// who are operators or affiliated (sql/0025_proposal_costs.sql): the planner used to call it first, for
    /// every proposal. Counted by PostgreSQL itself, in the transaction.
    @Test func theProposalsTriggerAsksAboutAntiMonopolyOnlyForOperatorsAndAffiliates() async throws {
        try await withMarket { market in
            let product = try await market.listedProduct()
            let plain = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            // Operator B holds no grant: its demand may have operator A's product, after the function has looked.
            let operators = try await market.store.postDemand(demandRequest(), demander: market.operatorB.id, open: true,
                                                              by: .party(market.operatorB.id))
            try await market.pool.withConnection { connection in
                try await connection.transaction { connection in
                    try await connection.execute("SET LOCAL track_functions = 'all'")
                    func calls() async throws -> Int64 {
                        try await connection.query("""
                            SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_xact_user_functions WHERE funcname = 'pdx_anti_monopoly_holder'
                            """).scalar(Int64.self) ?? -1
                    }
                    for _ in 0..<3 {
                        try await connection.execute("DELETE FROM matches WHERE demand_id = \(plain)")
                        try await connection.execute("""
                            INSERT INTO matches (demand_id, product_id, product_version, score, quote_fen) VALUES (\(plain), \(product.id), 1, 0.5, 0)
                            """)
                    }
                    #expect(try await calls() == 0)
                    try await connection.execute("""
                        INSERT INTO matches (demand_id, product_id, product_version, score, quote_fen) VALUES (\(operators), \(product.id), 1, 0.5, 0)
                        """)
                    #expect(try await calls() == 1)
                }
            }
            #expect(try await market.pool.query("SELECT count(*) FROM matches WHERE product_id = \(product.id)").scalar(Int64.self) == 2)
        }
    }

    /// A delisting in flight while a demand is matched: the proposal waits for it, sees it, and is not
    /// made (else the withdrawal, which could not see the uncommitted proposal, would leave it live).
    @Test(arguments: [false, true])
    func aDelistingInFlightIsWaitedForAndLeavesNoProposal(inMemory: Bool) async throws {
        try await withMarket { market in
            let product = try await market.listedProduct()
            let catalogue = inMemory ? CatalogueMemory() : nil
            try await catalogue?.load(from: market.pool)
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            let (locked, signal) = AsyncStream.makeStream(of: Void.self)
            let (release, releaser) = AsyncStream.makeStream(of: Void.self)
            let delisting = Task {
                try await market.pool.withTransaction { connection in
                    try await connection.execute("UPDATE products SET state = 'delisted', state_changed_at = now() WHERE id = \(product.id)")
                    try await connection.execute("""
                        UPDATE matches SET state = 'withdrawn', state_reason = 'product delisted' WHERE product_id = \(product.id) AND state = 'proposed'
                        """)
                    signal.yield()
                    for await _ in release { break }
                }
            }
            for await _ in locked { break }
            let matching = Task { try await market.store.matchDemand(demand, catalogue: catalogue) }
            // Commit the delisting once the proposal waits for it (a minute at most).
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let waiting = try await market.pool.query("""
                    SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO matches%'
                    """).scalar(Int64.self) ?? 0
                if waiting > 0 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            releaser.yield()
            try await delisting.value
            let matched = try await matching.value
            #expect(matched.candidates == 1, "the catalogue still showed it when matching began")
            #expect(matched.proposed.isEmpty)
            #expect(try await market.pool.query("SELECT count(*) FROM matches WHERE product_id = \(product.id) AND state = 'proposed'").scalar(Int64.self) == 0)
        }
    }

    @Test func reasonsAreReadableAndAddUpToTheScore() async throws {
        try await withMarket { market in
            _ = try await market.listedProduct()
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            let result = try await market.store.matchDemand(demand)
            #expect(result.proposed.count == 1)
            let (score, reasons) = try #require(try await market.pool.query("""
                SELECT score, reasons FROM matches WHERE id = \(result.proposed[0])
                """).decode(Double.self, JSONB<[Matching.Reason]>.self).first)
            #expect(Set(reasons.value.map(\.component)) == ["fields", "scenario", "text", "tags", "region", "price"])
            #expect(abs(reasons.value.reduce(0) { $0 + $1.value * $1.weight } - score) < 1e-9)
            #expect(reasons.value.allSatisfy { !$0.detail.isEmpty })
        }
    }

    @Test func aDelistedProductsProposalsAreWithdrawnAndTheDemandReopens() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id)
            let product = try await market.listedProduct()
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            let match = try #require(try await market.store.matchDemand(demand).proposed.first)
            #expect(try await market.store.demandState(demand) == .matched)
            try await market.store.changeProduct(product.id, to: .delisted, reason: "retired", by: seller)
            #expect(try await market.pool.query("SELECT state::text FROM matches WHERE id = \(match)").scalar(String.self) == "withdrawn")
            #expect(try await market.store.demandState(demand) == .open)
            #expect(try await market.store.matchDemand(demand).proposed.isEmpty, "a delisted product is not proposed again")
        }
    }
}

/// The catalogue matching searches, and the pruned search against plain exhaustive scoring.
@Suite struct CatalogueTests {
    @Test func theCatalogueHoldsExactlyTheListedProductsAtTheirCurrentVersion() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id)
            func catalogued() async throws -> [UUID: Int32] {
                Dictionary(uniqueKeysWithValues: try await market.pool.query("SELECT product_id, version FROM catalogue").decode(UUID.self, Int32.self))
            }
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: seller)
            #expect(try await catalogued().isEmpty, "a draft is not for sale")
            try await market.store.list(product.id, by: seller)
            #expect(try await catalogued() == [product.id: 1])
            _ = try await market.store.revise(product.id, with: productVersion([market.general], title: "路况指数二代 traffic index v2"), by: seller)
            #expect(try await catalogued() == [product.id: 2])
            #expect(try await market.pool.query("SELECT title FROM catalogue").scalar(String.self) == "路况指数二代 traffic index v2")
            try await market.store.changeProduct(product.id, to: .suspended, reason: "check", by: seller)
            #expect(try await catalogued().isEmpty)
            try await market.store.list(product.id, by: seller)
            #expect(try await catalogued() == [product.id: 2], "relisted")
            try await market.store.changeAuthorization(market.grantA.id, to: .revoked, reason: "ended early", by: Market.admin)
            #expect(try await catalogued().isEmpty, "revocation delists")
        }
    }

    @Test func theDatabaseStillRefusesBadDemandColumnsWhenTheyAreWritten() async throws {
        try await withMarket { market in
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            func refusal(_ statement: PostgresQuery) async -> String? {
                do { try await market.pool.execute(statement); return nil } catch let error as PostgresError { return error.constraint } catch { return "\(error)" }
            }
            #expect(await refusal("UPDATE demands SET regions = '{999999}' WHERE id = \(demand)") == "demands_regions_check")
            #expect(await refusal("UPDATE demands SET fields_wanted = '{}' WHERE id = \(demand)") == "demands_fields_wanted_check")
            #expect(await refusal("UPDATE demands SET tags = '{Bad Tag}' WHERE id = \(demand)") == "demands_tags_check")
            #expect(await refusal("UPDATE demands SET scenario = 'Not a slug' WHERE id = \(demand)") == "demands_scenario_check")
            #expect(await refusal("UPDATE demands SET state = 'cancelled' WHERE id = \(demand)") == nil)
        }
    }

    /// Pruned pricing gives exactly the top K of pricing and scoring every product, for a demand whose
    /// fields many products offer and one whose fields few do.
    @Test func thePrunedSearchProposesExactlyTheExhaustiveTopK() async throws {
        try await withMarket { market in
            let products = try await market.variedProducts(seed: 42)
            var common = demandRequest(budget: 400_000)
            common.fieldsWanted = ["road_id", "speed"]
            var rare = demandRequest(budget: 400_000)
            rare.fieldsWanted = ["speed", "origin"]
            for request in [common, rare] {
                let demand = try await market.store.postDemand(request, demander: market.demander.id, open: true, by: .party(market.demander.id))
                let proposed = try await market.store.matchDemand(demand, limit: 7)
                let matched = try await market.pool.query("SELECT product_id FROM matches WHERE id = ANY(\(proposed.proposed))").decode(UUID.self)
                let (top, affordable) = try await market.exhaustiveTop(7, of: products, for: request)
                #expect(affordable > 7, "the budget leaves more candidates than places")
                #expect(Set(matched) == top, "fields wanted \(request.fieldsWanted)")
            }
        }
    }
}

/// Expiry jobs: demands at their expiry, authorizations at the end of their term.
@Suite struct ExpiryTests {
    @Test func aDemandExpiresAtItsTimeAndItsProposalsAreWithdrawn() async throws {
        try await withMarket { market in
            _ = try await market.listedProduct()
            let soon = demandRequest()
            let demand = try await market.store.postDemand(soon, demander: market.demander.id, open: true, by: .party(market.demander.id))
            let scheduled = try await market.pool.query("""
                SELECT scheduled_at FROM pdx_jobs WHERE kind = 'expire_demand' AND args->>'demandID' = \(demand.uuidString)
                """).decode(Date.self)
            #expect(scheduled.count == 1)
            #expect(abs((scheduled.first ?? .distantPast).timeIntervalSince(soon.expiresAt)) < 0.001, "scheduled at its expiry")
            #expect(try await market.store.matchDemand(demand).proposed.count == 1)
            if case .notDue = try await market.store.expireDemand(demand) {} else { Issue.record("expired before its time") }
            // Time passes (without making the suite wait for it).
            try await market.pool.execute("""
                UPDATE demands SET created_at = now() - interval '1 day', expires_at = now() - interval '1 second' WHERE id = \(demand)
                """)
            #expect(try await market.store.expireDemand(demand) == .expired(withdrawn: 1))
            #expect(try await market.store.demandState(demand) == .expired)
            #expect(try await market.pool.query("SELECT count(*) FROM matches WHERE demand_id = \(demand) AND state = 'proposed'").scalar(Int64.self) == 0)
            #expect(try await market.store.expireDemand(demand) == .nothingToDo, "expiring twice does nothing")
            #expect(try await market.store.matchDemand(demand).proposed.isEmpty, "an expired demand is not matched")
        }
    }

    @Test func anAuthorizationExpiresAtTheEndOfItsTermAndItsProductsLeave() async throws {
        try await withMarket { market in
            let short = try await market.store.grant(authorization(agency: market.agency, operator: market.operatorB, mode: .multi),
                                                     by: Market.admin)
            let scheduled = try await market.pool.query("""
                SELECT scheduled_at FROM pdx_jobs WHERE kind = 'expire_authorization' AND args->>'authorizationID' = \(short.id.uuidString)
                """).decode(Date.self)
            #expect(scheduled.count == 1)
            #expect(abs((scheduled.first ?? .distantPast).timeIntervalSince(short.validUntil)) < 0.001, "scheduled at the end of its term")
            let seller = Actor.party(market.operatorB.id)
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorB.id,
                                                               authorization: short.id, by: seller)
            try await market.store.list(product.id, by: seller)
            if case .notDue = try await market.store.expireAuthorization(short.id) {} else { Issue.record("expired before its time") }
            // The term ends (without making the suite wait for it).
            try await market.pool.execute("UPDATE authorizations SET validity = tstzrange(lower(validity), now()) WHERE id = \(short.id)")
            #expect(try await market.store.expireAuthorization(short.id) == .expired(withdrawn: 0))
            #expect(try await market.store.authorization(short.id).state == .expired)
            #expect(try await market.store.product(product.id).state == .delisted)
        }
    }
}

/// `pdx work`'s handlers, run by a real worker against real PostgreSQL.
@Suite struct MarketWorkerTests {
    @Test func aDemandPostedThroughTheStoreGetsItsMatchesOnceTheWorkerRuns() async throws {
        try await withMarket { market in
            let product = try await market.listedProduct()
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            #expect(try await market.store.demandState(demand) == .open, "nothing is matched before a worker runs")
            try await whileWorking(market) {
                try await waitFor("the demand to be matched") { try await market.store.demandState(demand) == .matched }
            }
            let products = try await market.pool.query("SELECT product_id FROM matches WHERE demand_id = \(demand)").decode(UUID.self)
            #expect(products == [product.id])
        }
    }

    @Test func aWebhookReceivesCorrectlySignedEvents() async throws {
        try await withMarket { market in
            let receiver = try WebhookReceiver()
            defer { receiver.close() }
            let secret = try #require(try await market.store.setWebhook(party: market.demander.id, url: receiver.url, policy: .development, by: Market.admin))
            #expect(secret.count == 64)
            _ = try await market.listedProduct()
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            try await whileWorking(market) {
                try await waitFor("the webhook to receive the new match") { !receiver.requests.isEmpty }
            }
            let request = try #require(receiver.requests.first)
            #expect(request.method == "POST" && request.path == "/hooks/pdx")
            #expect(request.headers["pdx-event-type"] == "match.proposed")
            let signature = try #require(request.headers["pdx-signature"])
            #expect(Webhooks.verify(signature: signature, body: request.body, secret: secret))
            #expect(!Webhooks.verify(signature: signature, body: request.body + Data(" ".utf8), secret: secret), "a changed body fails")
            #expect(!Webhooks.verify(signature: signature, body: request.body, secret: String(secret.reversed())), "another secret fails")
            #expect(!Webhooks.verify(signature: signature, body: request.body, secret: secret, now: Date() + 600), "an old signature fails")
            let event = try JSONSerialization.jsonObject(with: request.body) as? [String: Any]
            let data = event?["data"] as? [String: Any]
            #expect(event?["type"] as? String == "match.proposed")
            #expect(event?["id"] as? String == request.headers["pdx-event-id"])
            #expect(data?["demand_id"] as? String == demand.uuidString.lowercased())
            #expect(data?["product_id"] != nil && data?["state"] as? String == "proposed")
        }
    }

    @Test func aFailingReceiverGetsRetriesOfTheSameEvent() async throws {
        try await withMarket { market in
            let receiver = try WebhookReceiver(statuses: [500, 503, 200])
            defer { receiver.close() }
            _ = try await market.store.setWebhook(party: market.operatorA.id, url: receiver.url, policy: .development, by: Market.admin)
            let product = try await market.listedProduct()
            // A direct order: the operator hears `order.placed`.
            _ = try await market.store.order(product: product.id, quantity: 10, purpose: .industryDevelopment, buyer: market.demander.id, scenario: "traffic_planning",
                                             by: .party(market.demander.id))
            try await whileWorking(market) {
                try await waitFor("three deliveries", within: .seconds(60)) { receiver.requests.count >= 3 }
                try await waitFor("the notify job to complete") {
                    try await market.pool.query("SELECT state::text FROM pdx_jobs WHERE kind = 'notify'").scalar(String.self) == "completed"
                }
            }
            let deliveries = receiver.requests
            #expect(deliveries.count == 3, "two failures, then success, then nothing more")
            #expect(Set(deliveries.compactMap { $0.headers["pdx-event-id"] }).count == 1, "every retry carries the same event id")
            #expect(deliveries.allSatisfy { $0.headers["pdx-event-type"] == "order.placed" })
            let (attempts, errors) = try #require(try await market.pool.query("""
                SELECT attempt, jsonb_array_length(errors) FROM pdx_jobs WHERE kind = 'notify'
                """).decode(Int16.self, Int32.self).first)
            #expect(attempts == 3 && errors == 2)
        }
    }
}

extension Market {
    /// 40 listed products of operator A with varied titles, fields, scenarios and prices (drawn from `seed`).
    func variedProducts(seed: UInt64) async throws -> [UUID] {
        let seller = Actor.party(operatorA.id)
        let fields = ["road_id", "speed", "volume", "congestion", "origin"]
        let titles = ["物流路径优化 route optimisation", "路况 traffic", "实时路况指数 live traffic index", "货运 freight", "公交 bus"]
        var random = SplitMix64(seed: seed)
        var products: [UUID] = []
        for i in 0..<40 {
            var version = productVersion([general], title: titles[i % titles.count] + " \(i)", price: Int64(1 + random.next() % 900))
            version.fields = Array(fields.prefix(1 + Int(random.next() % 5)))
            version.scenarios = random.next() % 2 == 0 ? ["logistics"] : ["traffic_planning"]
            let product = try await store.createProduct(version, operator: operatorA.id, authorization: grantA.id, by: seller)
            try await store.list(product.id, by: seller)
            products.append(product.id)
        }
        return products
    }

    /// The top `k` of `products` for `request` by scoring and pricing every one (within the budget), and how
    /// many are within the budget.
    func exhaustiveTop(_ k: Int, of products: [UUID], for request: DemandRequest) async throws -> (top: Set<UUID>, affordable: Int) {
        var scored: [(score: Double, id: UUID)] = []
        for id in products {
            let quote = try await store.quote(product: id, quantity: request.quantity, purpose: request.purpose, buyer: demander.id,
                                              scenario: request.scenario)
            guard quote.amountFen <= request.budgetFen else { continue }
            scored.append((Matching.score(demand: request, product: try await store.product(id).current, quote: quote).total, id))
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.id.uuidString < $1.id.uuidString }
        return (Set(scored.prefix(k).map(\.id)), scored.count)
    }
}

/// Runs a worker with the market's handlers (short retry base, fast polling) while `body` runs; `inMemory`:
/// demands matched in batches against a catalogue in memory, as `pdx work` does.
func whileWorking(_ market: Market, inMemory: Bool = false, _ body: () async throws -> Void) async throws {
    var registry = JobRegistry()
    var logger = Logger(label: "test.worker")
    logger.logLevel = .critical
    if inMemory {
        try await following(market) { catalogue in
            try await waitFor("the catalogue in memory") { catalogue.isReady }
            let matcher = DemandMatcher(store: market.store, catalogue: catalogue, logger: logger)
            MarketWorkers.register(into: &registry, store: market.store, webhooks: .development, matcher: matcher, logger: logger)
            try await work(market, registry: registry, concurrency: 16, logger: logger, body)
        }
    } else {
        MarketWorkers.register(into: &registry, store: market.store, webhooks: .development, logger: logger)
        try await work(market, registry: registry, concurrency: 4, logger: logger, body)
    }
}

private func work(_ market: Market, registry: JobRegistry, concurrency: Int, logger: Logger, _ body: () async throws -> Void) async throws {
    var configuration = JobWorker.Configuration(queues: [NewJob.defaultQueue: 4, matchQueue: concurrency], claimBatch: 10,
                                                pollInterval: .milliseconds(100), lease: .seconds(30), shutdownTimeout: .seconds(5),
                                                retryBase: .milliseconds(200))
    configuration.maintenance.schedulerInterval = .milliseconds(50)
    let worker = try JobWorker(configuration: configuration, registry: registry, database: market.pool.configuration.connection, logger: logger)
    let running = Task { try await worker.run() }
    do {
        try await body()
        worker.stop()
        try await running.value
    } catch {
        worker.stop()
        _ = try? await running.value
        throw error
    }
}

/// Polls until `condition` holds; the bound is generous because the suite shares two cores.
func waitFor(_ what: String, within limit: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(50))
    }
}
