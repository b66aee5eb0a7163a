import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import LocalPostgres
import Logging
import Market
@testable import MarketAPI
import MarketStore
import PDXClient
import PDXTestSupport
import Postgres
import Testing

/// A migrated database with parties of each kind, a key for each, and a listed product.
struct APIMarket {
    let store: MarketStore
    let pool: PostgresPool
    let demander: Party, otherDemander: Party, operatorParty: Party, agency: Party, otherOperator: Party, otherAgency: Party
    let demanderKey: String, otherKey: String, operatorKey: String, agencyKey: String, otherOperatorKey: String, otherAgencyKey: String
    let product: UUID
    let resource: UUID, grant: UUID
    /// The catalogue cache, listening, when asked for.
    let cache: CatalogueCache?
}

/// The API over `market`, through Hummingbird's test client: in process, or with `live` on a real port
/// of 127.0.0.1 (the client's `port`), for clients that speak HTTP themselves.
func withAPI(_ configuration: APIConfiguration = APIConfiguration(rateLimit: nil), catalogueCache: Bool = false, accessCache: Bool = false,
             live: Bool = false,
             _ body: @escaping @Sendable (APIMarket, any TestClientProtocol) async throws -> Void) async throws {
    var api = configuration
    try await TestDatabase.withMigratedDatabase { configuration in
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 4), logger: logger)
        do {
            let store = MarketStore(pool: pool)
            let admin = Actor.administrator("test")
            func party(_ kind: PartyKind, _ name: String) async throws -> Party {
                let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
                let code = try CreditCode.completing("91310000" + String((0..<9).map { _ in alphabet.randomElement()! })).value
                return try await store.registerParty(NewParty(kind: kind, name: name, creditCode: code, regionCode: "310000"), by: admin)
            }
            let agency = try await party(.agency, "上海市大数据中心")
            let operatorParty = try await party(.operator, "数据运营甲")
            let demander = try await party(.demander, "某银行"), other = try await party(.demander, "另一家银行")
            let otherOperator = try await party(.operator, "数据运营乙"), otherAgency = try await party(.agency, "北京市大数据中心")
            let resource = try await store.registerResource(NewResource(title: "道路流量", sector: "transport", regionCode: "310000", grade: .general),
                                                            agency: agency.id, by: admin)
            let grant = try await store.grant(Authorization(agencyID: agency.id, operatorID: operatorParty.id, sectors: ["transport"],
                                                            regions: [try RegionCode("310000")], scenarios: ["logistics"], mode: .multi,
                                                            validFrom: Date() - 3600, validUntil: Date() + 86_400 * 300), by: admin)
            let version = ProductVersion(title: "路况指数 traffic index", sector: "transport", regions: [try RegionCode("310000")],
                                         scenarios: ["logistics"], fields: ["road_id", "speed"], deliveryModes: [.api], chargeUnit: .call,
                                         listPriceFen: 50, sourceResourceIDs: [resource.id])
            let product = try await store.createProduct(version, operator: operatorParty.id, authorization: grant.id, by: .party(operatorParty.id))
            try await store.list(product.id, by: .party(operatorParty.id))
            func key(_ party: Party) async throws -> String { try await store.createAPIKey(party: party.id, by: admin).token }
            var listening: Task<Void, any Error>?
            defer { listening?.cancel() }
            if catalogueCache {
                let cache = try CatalogueCache(database: configuration, logger: logger)
                listening = Task { try await cache.run() }
                try await eventually { cache.generation() != nil }
                api.catalogueCache = cache
            }
            var accessListening: Task<Void, any Error>?
            defer { accessListening?.cancel() }
            if accessCache {
                let cache = try AccessCache(database: configuration, logger: logger)
                accessListening = Task { try await cache.run() }
                try await eventually { cache.generation() != nil }
                api.accessCache = cache
            }
            let market = APIMarket(store: store, pool: pool, demander: demander, otherDemander: other, operatorParty: operatorParty, agency: agency,
                                   otherOperator: otherOperator, otherAgency: otherAgency,
                                   demanderKey: try await key(demander), otherKey: try await key(other),
                                   operatorKey: try await key(operatorParty), agencyKey: try await key(agency),
                                   otherOperatorKey: try await key(otherOperator), otherAgencyKey: try await key(otherAgency), product: product.id,
                                   resource: resource.id, grant: grant.id, cache: api.catalogueCache)
            let app = Application(router: try MarketAPI.router(store: store, configuration: api), logger: logger)
            try await app.test(live ? .live : .router) { client in try await body(market, client) }
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }
}

func bearer(_ key: String) -> HTTPFields { [.authorization: "Bearer \(key)", .contentType: "application/json"] }

func json(_ response: TestResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
}

func demandJSON(budget: Any = 100_000, open: Bool = true, regions: [String] = ["310000"]) -> ByteBuffer {
    let body: [String: Any] = [
        "title": "物流路径优化 route optimisation", "sector": "transport", "scenario": "logistics", "purpose": "industry_development",
        "regions": regions, "fields_wanted": ["road_id"], "quantity": 1000, "budget_fen": budget, "delivery_modes": ["api"],
        "expires_at": ISO8601DateFormatter().string(from: Date() + 30 * 86_400), "open": open,
    ]
    return ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: body))
}

/// A demand as PDXClient posts it: the same as `demandJSON`.
func newDemand(open: Bool = true) -> Components.Schemas.NewDemand {
    .init(title: "物流路径优化 route optimisation", sector: "transport", scenario: "logistics", purpose: .industryDevelopment, regions: ["310000"],
          fieldsWanted: ["road_id"], quantity: 1000, budgetFen: 100_000, deliveryModes: [.api], expiresAt: Date() + 30 * 86_400, open: open)
}

/// The name of a typed answer's case (`ok`, `forbidden`, `notFound`, …), for tests that only check which it was.
func answer(_ output: some Any) -> String {
    String(String(describing: output).prefix { $0 != "(" })
}

@Suite struct APITests {
    @Test func healthAndReadiness() async throws {
        try await withAPI(live: true) { _, client in
            let anyone = try ClientTests.pdx(client, nil)
            #expect(try await anyone.healthz().ok.body.json.status == "ok")
            #expect(try await anyone.readyz().ok.body.json.status == "ready")
        }
    }

    @Test func keysAuthenticateAndTheirPartysKindDecides() async throws {
        try await withAPI(live: true) { market, client in
            let none = try await ClientTests.pdx(client, nil).postDemand(body: .json(newDemand()))
            #expect(try none.unauthorized.body.applicationProblemJson.code == .unauthorized)
            let forged = try await ClientTests.pdx(client, "pdx_000000000000_" + String(repeating: "0", count: 48)).listDemands()
            #expect(answer(forged) == "unauthorized")
            let agency = try await ClientTests.pdx(client, market.agencyKey).postDemand(body: .json(newDemand()))
            #expect(try agency.forbidden.body.applicationProblemJson.code == .forbidden)
            // A revoked key stops working at once.
            let other = try ClientTests.pdx(client, market.otherKey)
            let keyID = try #require(try await market.store.apiKeys(party: market.otherDemander.id).first?.id)
            #expect(answer(try await other.listDemands()) == "ok")
            try await market.store.revokeAPIKey(keyID, reason: "test", by: .administrator("test"))
            #expect(answer(try await other.listDemands()) == "unauthorized")
            // Keys are stored as hashes only.
            let stored = try await market.pool.query("SELECT count(*) FROM api_keys WHERE encode(key_sha256, 'escape') LIKE '%' || \(market.demanderKey) || '%'").scalar(Int64.self)
            #expect(stored == 0)
        }
        // The problem's media type, which the typed client reads but does not show.
        try await withAPI { _, client in
            let none = try await client.checked(uri: "/v1/demands", method: .post, headers: [.contentType: "application/json"], body: demandJSON())
            #expect(none.status == .unauthorized && none.headers[.contentType] == "application/problem+json")
        }
    }

    @Test func aDemanderPostsReadsAndPagesItsOwnDemandsOnly() async throws {
        try await withAPI(live: true) { market, client in
            let demander = try ClientTests.pdx(client, market.demanderKey), other = try ClientTests.pdx(client, market.otherKey)
            let created = try await demander.postDemand(body: .json(newDemand())).created
            let demand = try created.body.json
            #expect(demand.state == .open && demand.fieldsWanted == ["road_id"])
            #expect(created.headers.location == "/v1/demands/\(demand.id)")
            #expect(try await market.pool.query("SELECT count(*) FROM pdx_jobs WHERE kind = 'match_demand'").scalar(Int64.self) == 1,
                    "its match job was enqueued with it")
            #expect(try await demander.getDemand(path: .init(id: demand.id)).ok.body.json == demand)
            let theirs = try await other.getDemand(path: .init(id: demand.id))
            #expect(try theirs.notFound.body.applicationProblemJson.code == .notFound, "another party's demand does not exist for the caller")
            _ = try await demander.postDemand(body: .json(newDemand(open: false))).created
            let first = try await demander.listDemands(query: .init(limit: 1)).ok.body.json
            let cursor = try #require(first.next)
            let second = try await demander.listDemands(query: .init(after: cursor, limit: 1)).ok.body.json
            #expect(Set((first.items + second.items).map(\.id)).count == 2)
            #expect(try await other.listDemands().ok.body.json.items.isEmpty)
        }
    }

    @Test func badInputIsRefusedNamingTheFieldAndNothingIsStored() async throws {
        try await withAPI { market, client in
            func problem(_ body: ByteBuffer) async throws -> (HTTPResponse.Status, [String: Any]) {
                let response = try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: body)
                #expect(response.headers[.contentType] == "application/problem+json")
                return (response.status, try json(response))
            }
            let malformed = try await problem(ByteBuffer(string: "{\"title\": "))
            #expect(malformed.0 == .badRequest && malformed.1["code"] as? String == "malformed_json")
            let wrongType = try await problem(demandJSON(budget: "a lot"))
            #expect(wrongType.0 == .badRequest && wrongType.1["field"] as? String == "budget_fen")
            let badRegion = try await problem(demandJSON(regions: ["999999"]))
            #expect(badRegion.0 == .badRequest && badRegion.1["code"] as? String == "invalid_input" && badRegion.1["field"] as? String == "regions")
            let huge = try await problem(ByteBuffer(string: "{\"title\": \"" + String(repeating: "x", count: 1 << 20) + "\"}"))
            #expect(huge.0 == .contentTooLarge && huge.1["code"] as? String == "too_large", "\(huge)")
            #expect(try await market.pool.query("SELECT count(*) FROM demands").scalar(Int64.self) == 0)
        }
    }

    @Test func aRetryWithTheSameIdempotencyKeyGetsTheFirstResponse() async throws {
        try await withAPI { market, client in
            var headers = bearer(market.demanderKey)
            headers[HTTPField.Name("Idempotency-Key")!] = "post-demand-1"
            let body = demandJSON()
            let first = try await client.checked(uri: "/v1/demands", method: .post, headers: headers, body: body)
            let retry = try await client.checked(uri: "/v1/demands", method: .post, headers: headers, body: body)
            #expect(first.status == .created && retry.status == .created)
            let firstID = try json(first)["id"] as? String, retryID = try json(retry)["id"] as? String
            #expect(firstID != nil && firstID == retryID)
            #expect(retry.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(retry.headers[.location] == first.headers[.location])
            #expect(try await market.pool.query("SELECT count(*) FROM demands").scalar(Int64.self) == 1, "posted once")
            let other = try await client.checked(uri: "/v1/demands", method: .post, headers: headers, body: demandJSON(budget: 5))
            #expect(other.status == .unprocessableContent)
            #expect(try json(other)["code"] as? String == "idempotency_key_reused")
            // Keys are per party: another demander may use the same one.
            var theirs = bearer(market.otherKey)
            theirs[HTTPField.Name("Idempotency-Key")!] = "post-demand-1"
            #expect(try await client.checked(uri: "/v1/demands", method: .post, headers: theirs, body: body).status == .created)
            // A request that failed does not hold its key: fixed and retried, it runs.
            headers[HTTPField.Name("Idempotency-Key")!] = "post-demand-2"
            let refused = try await client.checked(uri: "/v1/demands", method: .post, headers: headers, body: demandJSON(regions: ["999999"]))
            #expect(refused.status == .badRequest)
            #expect(try await client.checked(uri: "/v1/demands", method: .post, headers: headers, body: demandJSON(budget: 7)).status == .created)
        }
    }

    @Test func aDemanderSeesItsMatchesAndAcceptsOneIntoAnOrder() async throws {
        try await withAPI(live: true) { market, client in
            let demander = try ClientTests.pdx(client, market.demanderKey), other = try ClientTests.pdx(client, market.otherKey)
            let demand = try await demander.postDemand(body: .json(newDemand())).created.body.json.id
            let demandID = try #require(UUID(uuidString: demand))
            _ = try await market.store.matchDemand(demandID)  // what a worker does
            let items = try await demander.listDemandMatches(path: .init(id: demand)).ok.body.json.items
            #expect(items.count == 1 && items.first?.productId == market.product.uuidString.lowercased())
            let match = try #require(items.first?.id)
            #expect(answer(try await other.listDemandMatches(path: .init(id: demand))) == "notFound")
            #expect(answer(try await other.acceptMatch(path: .init(id: demand, match: match))) == "notFound",
                    "nobody accepts another party's proposal")
            let accepted = try await demander.acceptMatch(path: .init(id: demand, match: match)).created
            let order = try accepted.body.json
            #expect(accepted.headers.location == "/v1/orders/\(order.id)")
            #expect(order.state == .placed && order.amountFen == 50_000)
            #expect(!order.quote.lines.isEmpty, "the order keeps its quote's line items")
            #expect(try await market.store.demand(demandID).state == .ordered)
            let again = try await demander.acceptMatch(path: .init(id: demand, match: match))
            #expect(try again.conflict.body.applicationProblemJson.code == .stateConflict)
        }
    }

    @Test func aDemanderDeclinesOpensAndCancels() async throws {
        try await withAPI(live: true) { market, client in
            let demander = try ClientTests.pdx(client, market.demanderKey)
            let posted = try await demander.postDemand(body: .json(newDemand(open: false))).created.body.json
            #expect(posted.state == .draft)
            #expect(try await demander.openDemand(path: .init(id: posted.id)).ok.body.json.state == .open)
            let demandID = try #require(UUID(uuidString: posted.id))
            _ = try await market.store.matchDemand(demandID)
            let match = try #require(try await market.store.matches(MatchFilter(demandID: demandID)).first?.id)
            let declined = try await demander.declineMatch(path: .init(id: posted.id, match: match.uuidString.lowercased()),
                                                           body: .json(.init(reason: "too coarse")))
            #expect(answer(declined) == "ok")
            #expect(try await demander.cancelDemand(path: .init(id: posted.id)).ok.body.json.state == .cancelled)
            let reopened = try await demander.openDemand(path: .init(id: posted.id))
            #expect(answer(reopened) == "conflict", "a cancelled demand stays cancelled")
        }
    }

    @Test func ordersMoveByRoleAndQuotesArePreviewed() async throws {
        try await withAPI(live: true) { market, client in
            let demander = try ClientTests.pdx(client, market.demanderKey), operatorClient = try ClientTests.pdx(client, market.operatorKey)
            let product = market.product.uuidString.lowercased()
            let quote = try await demander.quoteProduct(path: .init(id: product), query: .init(quantity: 1_000, purpose: .industryDevelopment))
            #expect(try quote.ok.body.json.amountFen == 50_000)
            let declared = try await demander.quoteProduct(path: .init(id: product), query: .init(quantity: 1_000, purpose: .publicWelfare))
            #expect(try declared.ok.body.json.amountFen == 50_000, "self-declared public welfare is priced until verified or approved")
            _ = try await market.store.verifyParty(market.demander.id, as: .socialOrganization, evidence: "慈善组织登记证书", expiresAt: Date() + 86_400,
                                                   by: market.admin)
            let welfare = try await demander.quoteProduct(path: .init(id: product), query: .init(quantity: 1_000, purpose: .publicWelfare))
            #expect(try welfare.ok.body.json.amountFen == 0, "public welfare of a verified social organization is free")
            // What the typed client cannot send: a quantity of 0 and an unknown purpose.
            for (query, field) in [("quantity=0&purpose=public_welfare", "quantity"), ("quantity=1&purpose=x", "purpose"),
                                   ("quantity=1.5&purpose=public_welfare", "quantity"), ("purpose=public_welfare", "quantity")] {
                let badQuote = try await client.checked(uri: "/v1/products/\(product)/quote?\(query)", method: .get,
                                                        headers: bearer(market.demanderKey))
                #expect(badQuote.status == .badRequest, "\(query)")
                #expect(try json(badQuote)["field"] as? String == field, "\(query)")
            }

            let demand = try await demander.postDemand(body: .json(newDemand())).created.body.json.id
            let demandID = try #require(UUID(uuidString: demand))
            let match = try #require(try await market.store.matchDemand(demandID).proposed.first)
            let order = try await demander.acceptMatch(path: .init(id: demand, match: match.uuidString.lowercased())).created.body.json.id
            func move(_ action: String, _ key: String) async throws -> String {
                let pdx = try ClientTests.pdx(client, key)
                let path = Operations.AcceptOrder.Input.Path(id: order)
                switch action {
                case "accept": return answer(try await pdx.acceptOrder(path: path))
                case "complete": return answer(try await pdx.completeOrder(path: .init(id: path.id)))
                case "deliver": return answer(try await pdx.deliverOrder(path: .init(id: path.id)))
                default: return answer(try await pdx.cancelOrder(path: .init(id: path.id)))
                }
            }
            #expect(try await move("accept", market.demanderKey) == "forbidden", "the buyer does not accept its own order")
            #expect(try await move("accept", market.operatorKey) == "ok")
            #expect(try await move("complete", market.operatorKey) == "forbidden", "the operator does not confirm for the buyer")
            #expect(try await move("complete", market.demanderKey) == "conflict", "not delivered yet")
            #expect(try await move("deliver", market.operatorKey) == "ok")
            #expect(try await move("complete", market.demanderKey) == "ok")
            #expect(try await move("cancel", market.otherKey) == "notFound", "someone else's order does not exist for them")
            #expect(try await operatorClient.getOrder(path: .init(id: order)).ok.body.json.state == .completed)
            #expect(try await operatorClient.listOrders().ok.body.json.items.map(\.id) == [order])
            #expect(try await market.store.demand(demandID).state == .fulfilled)
        }
    }

    @Test func anOperatorCreatesListsAndDelistsItsOwnProductsWithinItsScope() async throws {
        try await withAPI(live: true) { market, client in
            let operatorClient = try ClientTests.pdx(client, market.operatorKey), demander = try ClientTests.pdx(client, market.demanderKey)
            let anyone = try ClientTests.pdx(client, nil)
            func product(region: String = "310000") -> Components.Schemas.NewProduct {
                .init(value1: .init(title: "货运流向 freight flows", sector: "transport", regions: [region], scenarios: ["logistics"],
                                    fields: ["origin", "destination"], deliveryModes: [.api], chargeUnit: .call, listPriceFen: 30,
                                    sourceResourceIds: [market.resource.uuidString.lowercased()]),
                      value2: .init(authorizationId: market.grant.uuidString.lowercased()))
            }
            #expect(answer(try await demander.createProduct(body: .json(product()))) == "forbidden")
            let outside = try await operatorClient.createProduct(body: .json(product(region: "110000")))
            #expect(try outside.unprocessableContent.body.applicationProblemJson.code == .outOfScope)
            let id = try await operatorClient.createProduct(body: .json(product())).created.body.json.id
            #expect(answer(try await anyone.getProduct(path: .init(id: id))) == "notFound", "a draft is not in the catalogue")
            #expect(answer(try await demander.listProduct(path: .init(id: id))) == "notFound")
            #expect(try await operatorClient.listProduct(path: .init(id: id)).ok.body.json.state == .listed)
            #expect(answer(try await anyone.getProduct(path: .init(id: id))) == "ok")
            #expect(answer(try await demander.delistProduct(path: .init(id: id))) == "forbidden")
            #expect(try await operatorClient.delistProduct(path: .init(id: id)).ok.body.json.state == .delisted)
            #expect(answer(try await anyone.getProduct(path: .init(id: id))) == "notFound")
        }
    }

    @Test func theCatalogueShowsListedProducts() async throws {
        try await withAPI { market, client in
            let found = try await client.checked(uri: "/v1/products/\(market.product)", method: .get)
            #expect(found.status == .ok)
            let body = try json(found)
            #expect(body["list_price_fen"] as? Int == 50 && body["delivery_modes"] as? [String] == ["api"])
            #expect(try await client.checked(uri: "/v1/products/\(UUID())", method: .get).status == .notFound)
            #expect(try await client.checked(uri: "/v1/products/not-a-uuid", method: .get).status == .badRequest)
            try await market.store.changeProduct(market.product, to: .delisted, reason: "retired", by: .party(market.operatorParty.id))
            #expect(try await client.checked(uri: "/v1/products/\(market.product)", method: .get).status == .notFound, "delisted: gone from the catalogue")
        }
    }

    @Test func pdxctlCreatesListsAndRevokesKeys() async throws {
        try await withAPI { market, _ in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            let created = try await runBuilt("pdxctl", ["keys", "create", "--party", market.demander.id.uuidString.lowercased(), "--label", "ci", "--database-url", url])
            #expect(created.status == 0, "\(created.error)")
            let token = try #require(created.output.split(separator: "\n").first { $0.hasPrefix("key: ") }).dropFirst(5)
            #expect(try await market.store.authenticate(apiKey: String(token))?.id == market.demander.id)
            let listed = try await runBuilt("pdxctl", ["keys", "list", "--party", market.demander.id.uuidString.lowercased(), "--database-url", url])
            #expect(listed.output.contains("ci") && !listed.output.contains(String(token)), "the list never shows a key")
            let id = try #require(try await market.store.apiKeys(party: market.demander.id).first { $0.label == "ci" }?.id)
            let revoked = try await runBuilt("pdxctl", ["keys", "revoke", id.uuidString.lowercased(), "--reason", "rotated", "--database-url", url])
            #expect(revoked.status == 0, "\(revoked.error)")
            #expect(try await market.store.authenticate(apiKey: String(token)) == nil)
            let bad = try await runBuilt("pdxctl", ["keys", "create", "--party", "nope", "--database-url", url])
            #expect(bad.status != 0 && bad.error.contains("--party must be a UUID"))
        }
    }
}

@Suite struct ServeTests {
    /// `pdx serve` as deployed: a process answering HTTP on loopback, stopped cleanly by SIGTERM.
    @Test func pdxServeAnswersOverHTTPAndStopsOnSIGTERM() async throws {
        try await TestDatabase.withMigratedDatabase { configuration in
            let port = Int.random(in: 20_000..<32_000)
            let process = ChildProcess()
            process.executableURL = try pdxExecutable()
            process.arguments = ["serve", "--port", "\(port)", "--database-url", TestDatabase.connectionString(configuration), "--log-level", "warning"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            defer { if process.isRunning { process.terminate() } }
            func get(_ path: String) async -> Int? {
                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
                request.timeoutInterval = 15  // a loaded CI machine runs the whole suite beside it
                guard let (_, response) = try? await URLSession.shared.data(for: request) else { return nil }
                return (response as? HTTPURLResponse)?.statusCode
            }
            let deadline = ContinuousClock.now + .seconds(60)
            var health: Int?
            while health == nil, ContinuousClock.now < deadline, process.isRunning {
                health = await get("/healthz")
                if health == nil { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(health == 200)
            // Ready means the database answered; on a machine this loaded a connection can take longer
            // than serve's connect timeout, and readiness comes back as a probe would see it.
            var ready = await get("/readyz")
            while ready != 200, ContinuousClock.now < deadline, process.isRunning {
                try await Task.sleep(for: .milliseconds(500))
                ready = await get("/readyz")
            }
            #expect(ready == 200)
            #expect(await get("/v1/demands") == 401)
            #expect(await get("/openapi.json") == 200)
            var metrics = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/metrics")!)
            metrics.timeoutInterval = 15
            let (exposition, _) = try await URLSession.shared.data(for: metrics)
            #expect(String(decoding: exposition, as: UTF8.self).contains("hb_requests"), "Hummingbird's request metrics reach /metrics")
            process.terminate()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "SIGTERM stops it gracefully")
        }
    }
}
