import Foundation
import JobQueue
import Logging
import Market
import MarketJobs
@testable import MarketStore
import MarketWorkers
import PDXTestSupport
import Postgres
import Testing

/// The catalogue a matching worker holds in memory: it follows every change to what is for sale, reloads
/// after a lost connection, matches as the database would, and a stale copy never makes a wrong proposal.
@Suite struct CatalogueMemoryTests {
    /// Every path that changes what is for sale reaches the copy: listing, revision, delisting, an
    /// authorization suspended and reinstated, an operator suspended, and a reconnect (changes made while
    /// nobody listened are read by the reload).
    @Test func theCopyFollowsEveryChangeToWhatIsForSale() async throws {
        try await withMarket { market in
            let store = market.store
            let first = try await market.listedProduct()
            try await following(market) { catalogue in
                try await waitFor("the first product in memory") { catalogue.holds(first.id, version: 1) }
                let second = try await market.listedProduct()
                try await waitFor("a listing") { catalogue.holds(second.id, version: 1) }
                var cheaper = productVersion([market.general], price: 10)
                cheaper.title = "路况指数 2 traffic index 2"
                _ = try await store.revise(second.id, with: cheaper, by: .party(market.operatorA.id))
                try await waitFor("a revision") { catalogue.holds(second.id, version: 2) }
                try await store.changeProduct(second.id, to: .delisted, reason: "withdrawn", by: .party(market.operatorA.id))
                try await waitFor("a delisting") { !catalogue.holds(second.id) }
                _ = try await store.changeAuthorization(market.grantA.id, to: .suspended, reason: "audit", by: Market.admin)
                try await waitFor("a suspended authorization") { !catalogue.holds(first.id) }
                _ = try await store.changeAuthorization(market.grantA.id, to: .active, reason: "audit passed", by: Market.admin)
                try await waitFor("a reinstated authorization") { catalogue.holds(first.id) }
                _ = try await store.changeParty(market.operatorA.id, to: .suspended, reason: "late filing", by: Market.admin)
                try await waitFor("a suspended operator") { !catalogue.holds(first.id) }
                _ = try await store.changeParty(market.operatorA.id, to: .active, reason: "filed", by: Market.admin)
                try await waitFor("a reinstated operator") { catalogue.holds(first.id) }

                // The listener's connection dies; a product listed meanwhile is read by the reload.
                let generation = catalogue.generation
                try await market.pool.execute("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'test catalogue'
                    """)
                let third = try await market.listedProduct()
                try await waitFor("the reload after a reconnect", within: .seconds(60)) {
                    catalogue.isReady && catalogue.generation != generation && catalogue.holds(third.id)
                }
                #expect(catalogue.count == 2, "the first and third products, nothing delisted")
            }
        }
    }

    /// Words no product uses any more keep their numbers until a full load: a copy whose numbering outgrows its
    /// last load loads itself again, staying ready, so that tags invented and dropped do not grow it without end.
    @Test func aCopyWhoseNumberingOutgrowsItsLastLoadLoadsItselfAgain() async throws {
        try await withMarket { market in
            let product = try await market.listedProduct()
            try await following(market, CatalogueMemory(compactionSlack: 6)) { catalogue in
                try await waitFor("the product in memory") { catalogue.holds(product.id, version: 1) }
                let loaded = catalogue.sizes
                #expect(loaded.words == 5, "three fields, a tag and a scenario")
                // Seven revisions, each with three tags never seen: 21 words more without a reload; past
                // 2 × 5 + 6 = 16 the copy loads itself again and keeps only the words of what it holds.
                for revision in 2...8 {
                    var next = productVersion([market.general], price: 50 - Int64(revision))
                    next.tags = ["fresh\(revision)a", "fresh\(revision)b", "fresh\(revision)c"]
                    _ = try await market.store.revise(product.id, with: next, by: .party(market.operatorA.id))
                    try await waitFor("revision \(revision) in memory") { catalogue.holds(product.id, version: revision) }
                    #expect(catalogue.isReady, "ready throughout")
                }
                // Reloaded after revision 5 (17 words, 7 kept); revisions 6 to 8 add 9, or 6 when the load read revision 6.
                try await waitFor("the numbering back within bounds") { catalogue.sizes.words <= 16 }
                #expect(catalogue.sizes.keys == loaded.keys)
                #expect(catalogue.count == 1 && catalogue.holds(product.id, version: 8))
            }
        }
    }

    /// Matching against the copy proposes exactly the exhaustive top K, as matching against the database does.
    @Test func matchingFromMemoryProposesTheExhaustiveTopK() async throws {
        try await withMarket { market in
            let products = try await market.variedProducts(seed: 7)
            let catalogue = CatalogueMemory()
            try await catalogue.load(from: market.pool)
            #expect(catalogue.isReady && catalogue.count == 40)
            var request = demandRequest(budget: 400_000)
            request.fieldsWanted = ["speed", "origin"]
            let fromMemory = try await market.store.postDemand(request, demander: market.demander.id, open: true, by: .party(market.demander.id))
            let fromDatabase = try await market.store.postDemand(request, demander: market.demander.id, open: true, by: .party(market.demander.id))
            let memory = try await market.store.matchDemand(fromMemory, limit: 7, catalogue: catalogue)
            let database = try await market.store.matchDemand(fromDatabase, limit: 7)
            #expect(memory.candidates == 40, "every product shares the demand's keys")
            func proposed(_ ids: [UUID]) async throws -> Set<UUID> {
                Set(try await market.pool.query("SELECT product_id FROM matches WHERE id = ANY(\(ids))").decode(UUID.self))
            }
            let (top, affordable) = try await market.exhaustiveTop(7, of: products, for: request)
            #expect(affordable > 7)
            #expect(try await proposed(memory.proposed) == top)
            #expect(try await proposed(database.proposed) == top)
            // The same scores and reasons either way.
            let scores = try await market.pool.query("""
                SELECT demand_id, product_id, score, reasons::text, quote_fen FROM matches WHERE demand_id IN (\(fromMemory), \(fromDatabase))
                ORDER BY product_id, demand_id
                """).decode(UUID.self, UUID.self, Double.self, String.self, Int64.self)
            for pair in stride(from: 0, to: scores.count, by: 2) {
                #expect(scores[pair].1 == scores[pair + 1].1 && scores[pair].2 == scores[pair + 1].2
                        && scores[pair].3 == scores[pair + 1].3 && scores[pair].4 == scores[pair + 1].4)
            }
        }
    }

    /// The copy bounds each candidate from its packed words (numbers for fields, tags and scenarios, region
    /// spans) without reading the product: for drawn products and demands (nested regions, words the catalogue
    /// never held, two delivery modes), it gathers the same candidates as the database's key index, and each
    /// bound is exactly the one scored from the product's facts. Items fetched after the copy changed are the
    /// products as held now.
    @Test func thePackedBoundIsTheBoundOfTheFacts() async throws {
        try await withMarket { market in
            let fields = ["road_id", "speed", "volume", "congestion", "origin", "destination"]
            let tags = ["realtime", "hourly", "open", "gis"]
            let pudong = try RegionCode("310115")
            var random = SplitMix64(seed: 11)
            func some<T>(_ values: [T], atLeast: Int = 1) -> [T] {
                let picked = values.filter { _ in random.next() % 2 == 0 }
                return picked.count >= atLeast ? picked : Array(values.prefix(atLeast))
            }
            var products: [UUID] = []
            for index in 0..<30 {
                var version = productVersion([market.general], modes: random.next() % 2 == 0 ? [.api] : [.api, .file],
                                             title: "路况 traffic \(index)", price: Int64(1 + random.next() % 500))
                version.fields = some(fields)
                version.tags = some(tags, atLeast: 0)
                version.scenarios = some(["traffic_planning", "logistics"])
                version.regions = some([Market.shanghai, pudong])
                products.append(try await market.listedProduct(version).id)
            }
            let catalogue = CatalogueMemory()
            try await catalogue.load(from: market.pool)
            #expect(catalogue.count == products.count)
            var compared = 0
            for index in 0..<12 {
                var request = demandRequest()
                request.fieldsWanted = some(fields) + (index % 3 == 0 ? ["never_offered"] : [])
                request.tags = some(tags, atLeast: 0) + (index % 4 == 0 ? ["unheard_of"] : [])
                request.scenario = index % 2 == 0 ? "logistics" : "traffic_planning"
                request.regions = some([Market.shanghai, pudong, Market.beijing])
                request.deliveryModes = index % 2 == 0 ? [.api, .file] : [.file]
                let demand = try await market.store.postDemand(request, demander: market.demander.id, open: true, by: .party(market.demander.id))
                let (subject, indexed) = try await market.pool.withConnection { connection in
                    let subject = try await connection.matchingSubject(demand)
                    return (subject, try await connection.catalogueCandidates(for: subject, limit: 1_000))
                }
                let scorer = Matching.Scorer(subject.demand)
                let found = try #require(catalogue.candidates(for: subject, scorer: scorer)?.found)
                #expect(Set(found.map(\.id)) == Set(indexed.map(\.product.id)) && found.count == Set(found.map(\.id)).count,
                        "demand \(index): the same candidates as the key index, each once")
                for row in indexed {
                    let bound = try #require(found.first { $0.id == row.product.id }?.bound)
                    #expect(bound == scorer.bound(Matching.ProductFacts(row.product.version)), "demand \(index), product \(row.product.id)")
                    compared += 1
                }
            }
            #expect(compared > 100, "enough pairs compared: \(compared)")

            // Fetched after a change: the items as held now, a product no longer held left out.
            let subject = try await market.pool.withConnection { try await $0.matchingSubject(
                try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))) }
            let (found, generation, _) = try #require(catalogue.candidates(for: subject, scorer: Matching.Scorer(subject.demand)))
            #expect(catalogue.items(found, generation: generation).map(\.0.product.id) == found.map(\.id))
            let gone = found[0].id
            try await market.store.changeProduct(gone, to: .delisted, reason: "withdrawn", by: .party(market.operatorA.id))
            try await catalogue.refresh([gone], from: market.pool)
            #expect(catalogue.generation != generation)
            #expect(catalogue.items(found, generation: generation).map(\.0.product.id) == found.dropFirst().map(\.id))
        }
    }

    /// A copy that missed every change since it loaded: what left the market since (delisted, its
    /// authorization suspended or expired, its operator suspended, revised to another version) is refused
    /// by the proposal's own check, and no live proposal breaks a hard rule.
    @Test func aStaleCopyNeverMakesAWrongProposal() async throws {
        try await withMarket { market in
            let store = market.store
            let operatorB = Actor.party(market.operatorB.id)
            let grantB = try await store.grant(authorization(agency: market.agency, operator: market.operatorB, mode: .multi), by: Market.admin)
            let kept = try await market.listedProduct()
            let delisted = try await market.listedProduct()
            let revised = try await market.listedProduct()
            let suspendedGrant = try await store.createProduct(productVersion([market.general]), operator: market.operatorB.id,
                                                               authorization: grantB.id, by: operatorB)
            try await store.list(suspendedGrant.id, by: operatorB)
            // Stale in everything, authorizations included: the default copy reads them again after 10 s, which a
            // loaded machine reached once between loading and matching here.
            let catalogue = CatalogueMemory(authorizationsMaximumAge: .seconds(3600))
            try await catalogue.load(from: market.pool)
            #expect(catalogue.count == 4)
            try await store.changeProduct(delisted.id, to: .delisted, reason: "withdrawn", by: .party(market.operatorA.id))
            var other = productVersion([market.general], price: 40)
            other.title = "另一个 another"
            _ = try await store.revise(revised.id, with: other, by: .party(market.operatorA.id))
            _ = try await store.changeAuthorization(grantB.id, to: .suspended, reason: "audit", by: Market.admin)
            #expect(catalogue.holds(delisted.id) && catalogue.holds(revised.id, version: 1) && catalogue.holds(suspendedGrant.id),
                    "the copy did not follow")

            let demand = try await store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            let result = try await store.matchDemand(demand, catalogue: catalogue)
            #expect(result.candidates == 4)
            let proposed = Set(try await market.pool.query("""
                SELECT product_id FROM matches WHERE demand_id = \(demand) AND state = 'proposed'
                """).decode(UUID.self))
            #expect(proposed == [kept.id], "only what is still for sale at the version the copy holds")
            #expect(try await store.proposalsBreakingHardRules() == 0)
        }
    }

    /// Demands matched by a worker in batches: each gets its proposals, each job completes once in the
    /// transaction that wrote them (attempt 1, nothing left for the worker to record), and a demand that
    /// cannot be matched (cancelled before its job ran) still completes its job without holding up the others.
    @Test func aWorkerMatchesDemandsTogetherAndCompletesTheirJobsWithThem() async throws {
        try await withMarket { market in
            let product = try await market.listedProduct()
            var demands: [UUID] = []
            for _ in 0..<30 {
                demands.append(try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true,
                                                                 by: .party(market.demander.id)))
            }
            try await market.store.changeDemand(demands[0], to: .cancelled, by: .party(market.demander.id))
            try await whileWorking(market, inMemory: true) {
                try await waitFor("every match_demand job to complete") {
                    try await market.pool.query("""
                        SELECT count(*) FROM pdx_jobs WHERE kind = 'match_demand' AND state <> 'completed'
                        """).scalar(Int64.self) == 0
                }
            }
            let matched = try await market.pool.query("""
                SELECT demand_id, product_id FROM matches WHERE state = 'proposed' ORDER BY demand_id
                """).decode(UUID.self, UUID.self)
            #expect(Set(matched.map(\.0)) == Set(demands.dropFirst()))
            #expect(matched.allSatisfy { $0.1 == product.id })
            let attempts = try await market.pool.query("""
                SELECT max(attempt), count(*) FROM pdx_jobs WHERE kind = 'match_demand'
                """).decode(Int16.self, Int64.self)
            #expect(attempts.first?.0 == 1 && attempts.first?.1 == 30)
            #expect(try await market.store.proposalsBreakingHardRules() == 0)
        }
    }
}

/// Runs a catalogue copy that follows the market while `body` runs.
func following(_ market: Market, _ catalogue: CatalogueMemory = CatalogueMemory(),
               _ body: (CatalogueMemory) async throws -> Void) async throws {
    var configuration = market.pool.configuration.connection
    configuration.applicationName = "test catalogue"
    var logger = Logger(label: "test.catalogue")
    logger.logLevel = .critical
    let listener = try PostgresListener(configuration: configuration, logger: logger)
    let task = Task { try await catalogue.follow(listener, pool: market.pool) }
    defer {
        task.cancel()
        listener.shutdown()
    }
    try await body(catalogue)
}

/// Posting a demand wakes the matching workers after its transaction has committed (not with a NOTIFY
/// inside it): the wake-up arrives, and when it does the job is already there to claim.
@Suite struct PostingWakeUpTests {
    @Test func aPostedDemandWakesTheMatchingWorkersOnceItsJobIsCommitted() async throws {
        try await withMarket { market in
            var logger = Logger(label: "test.listener")
            logger.logLevel = .critical
            let listener = try PostgresListener(configuration: market.pool.configuration.connection, logger: logger)
            defer { listener.shutdown() }
            var events = try listener.subscribe(to: "pdx_jobs").makeAsyncIterator()
            #expect(await events.next() == .listening)
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            let woken = await events.next()
            guard case .notification(let notification) = woken else {
                Issue.record("no wake-up: \(String(describing: woken))")
                return
            }
            #expect(notification.payload == matchQueue)
            let jobs = try await market.pool.query("""
                SELECT count(*) FROM pdx_jobs WHERE kind = 'match_demand' AND state = 'available' AND args->>'demandID' = \(demand.uuidString)
                """).scalar(Int64.self)
            #expect(jobs == 1, "the job is visible when its wake-up arrives")
        }
    }
}
