import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import Market
@testable import MarketAPI
import MarketStore
import Postgres
import Prometheus
import PDXClient
import Testing

func jsonBody(_ object: [String: Any]) -> ByteBuffer { ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object)) }

func items(_ response: TestResponse) throws -> [[String: Any]] { try #require(try json(response)["items"] as? [[String: Any]]) }

@Suite struct CatalogueSearchTests {
    @Test func everyFilterNarrowsTheCatalogueAndPagesStayStableUnderInserts() async throws {
        try await withAPI(live: true) { market, client in
            // Beside the market's 路况指数 traffic index (transport, api, 50 fen a call): three more listed products.
            func list(_ title: String, price: Int64, modes: [DeliveryMode] = [.api], scenarios: [String] = ["logistics"],
                      tags: [String] = []) async throws -> String {
                var version = try market.productVersion(title: title)
                version.listPriceFen = price
                version.deliveryModes = modes
                version.scenarios = scenarios
                version.tags = tags
                let product = try await market.store.createProduct(version, operator: market.operatorParty.id, authorization: market.grant,
                                                                   by: .party(market.operatorParty.id))
                try await market.store.list(product.id, by: .party(market.operatorParty.id))
                return product.id.uuidString.lowercased()
            }
            let freight = try await list("货运流向 freight flows", price: 300, modes: [.file])
            let parking = try await list("停车位实时数据", price: 1_000, tags: ["parking"])
            let cheap = try await list("Bus punctuality", price: 5, modes: [.api, .file])
            let anyone = try ClientTests.pdx(client, nil)
            func search(_ query: Operations.SearchProducts.Input.Query = .init()) async throws -> Set<String> {
                Set(try await anyone.searchProducts(query: query).ok.body.json.items.map(\.id))
            }
            let all = Set([market.product.uuidString.lowercased(), freight, parking, cheap])
            #expect(try await search() == all)
            #expect(try await search(.init(sector: "transport", region: "310000", scenario: "logistics")) == all)
            #expect(try await search(.init(sector: "health")).isEmpty)
            #expect(try await search(.init(region: "110000")).isEmpty)
            #expect(try await search(.init(deliveryMode: .file)) == [freight, cheap])
            #expect(try await search(.init(minPriceFen: 50, maxPriceFen: 300)) == [market.product.uuidString.lowercased(), freight])
            #expect(try await search(.init(q: "实时")) == [parking], "Chinese words (实时)")
            #expect(try await search(.init(q: "PUNCTUAL")) == [cheap], "English, any case")
            #expect(try await search(.init(q: "parking")) == [parking], "tags are searched too")
            #expect(try await search(.init(q: "%")).isEmpty, "LIKE's own characters are literal")

            // Pages in id order: products listed while paging never repeat or hide the ones already there.
            let first = try await anyone.searchProducts(query: .init(limit: 2)).ok.body.json
            var seen = first.items.map(\.id)
            let added = try await list("新增 added while paging", price: 1)
            var next = first.next
            #expect(next != nil)
            while let after = next {
                let page = try await anyone.searchProducts(query: .init(after: after, limit: 2)).ok.body.json
                seen += page.items.map(\.id)
                next = page.next
            }
            #expect(seen.count == Set(seen).count, "no product twice")
            #expect(Set(seen).isSuperset(of: all))
            #expect(Set(seen).subtracting(all).isSubset(of: [added]))

            // What the typed client cannot send (a mode outside the enum, a cursor that is no id) with the rest.
            for (query, field) in [("min_price_fen=-1", "min_price_fen"), ("min_price_fen=9&max_price_fen=1", "min_price_fen"),
                                   ("delivery_mode=fax", "delivery_mode"), ("region=1", "region"), ("limit=0", "limit"), ("after=x", "after")] {
                let refused = try await client.checked(uri: "/v1/products?\(query)", method: .get)
                #expect(try refused.status == .badRequest && (json(refused)["field"] as? String) == field, "\(query)")
            }
        }
    }
}

@Suite struct ProductAndDemandUpdateTests {
    @Test func aDraftIsEditedInPlaceAndAListedProductGetsANewVersionOnlyWhenItChanges() async throws {
        try await withAPI(live: true) { market, client in
            let pdx = try ClientTests.pdx(client, market.operatorKey)
            let draft = try await market.product(listed: false).uuidString.lowercased()
            var content = Components.Schemas.ProductContent(title: "货运流向 v2", sector: "transport", regions: ["310000"], scenarios: ["logistics"],
                                                            fields: ["origin", "destination"], deliveryModes: [.api], chargeUnit: .call,
                                                            listPriceFen: 30, sourceResourceIds: [market.resource.uuidString.lowercased()])
            let edited = try await pdx.updateProduct(path: .init(id: draft), body: .json(content)).ok.body.json
            #expect(edited.title == "货运流向 v2" && edited.version == 1)

            let listed = try await market.product(listed: true)
            let jobs = { try await market.pool.query("SELECT count(*) FROM pdx_jobs WHERE kind = 'match_product'").scalar(Int64.self) ?? 0 }
            let before = try await jobs()
            let revised = try await pdx.updateProduct(path: .init(id: listed.uuidString.lowercased()), body: .json(content)).ok.body.json
            #expect(revised.version == 2 && revised.state == .listed && revised.title == "货运流向 v2")
            #expect(try await jobs() == before + 1, "a new version of a listed product is matched again")
            let same = try await pdx.updateProduct(path: .init(id: listed.uuidString.lowercased()), body: .json(content)).ok.body.json
            #expect(same.version == 2, "the same content again changes nothing")

            content.regions = ["110000"]
            let outside = try await pdx.updateProduct(path: .init(id: listed.uuidString.lowercased()), body: .json(content))
            #expect(try outside.unprocessableContent.body.applicationProblemJson.code == .outOfScope)
            #expect(try await market.store.product(listed).version == 2, "a refused revision stores nothing")
        }
    }

    @Test func onlyADraftDemandIsReplacedAndItMayBeOpenedWithIt() async throws {
        try await withAPI(live: true) { market, client in
            let pdx = try ClientTests.pdx(client, market.demanderKey)
            let draft = try await market.demand(open: false).uuidString.lowercased()
            var body = newDemand(open: true)
            body.budgetFen = 5_000
            let updated = try await pdx.updateDemand(path: .init(id: draft), body: .json(body)).ok.body.json
            #expect(updated.budgetFen == 5_000 && updated.state == .open)
            let again = try await pdx.updateDemand(path: .init(id: draft), body: .json(body))
            #expect(answer(again) == "conflict", "an open demand is no longer a draft")
            body.quantity = 0
            let fresh = try await market.demand(open: false)
            let refused = try await pdx.updateDemand(path: .init(id: fresh.uuidString.lowercased()), body: .json(body))
            #expect(try refused.badRequest.body.applicationProblemJson.field == "quantity")
            #expect(try await market.store.demand(fresh).request.quantity == 1000, "nothing stored is lost")
        }
    }
}

@Suite struct AgencyTests {
    @Test func anAgencyRegistersResourcesAndGrantsSuspendsAndRevokesAuthorizations() async throws {
        try await withAPI(live: true) { market, client in
            let agency = try ClientTests.pdx(client, market.agencyKey), anyone = try ClientTests.pdx(client, nil)
            let registered = try await agency.registerResource(body: .json(.init(title: "企业登记", sector: "transport", regionCode: "310000",
                                                                                   grade: .important))).created
            #expect(try registered.body.json.grade == .important)
            #expect(registered.headers.location.hasPrefix("/v1/resources/"))
            // What the typed client cannot send: a grade outside the enum.
            let badGrade = try await client.checked(uri: "/v1/resources", method: .post, headers: bearer(market.agencyKey),
                                                    body: jsonBody(["title": "x", "sector": "transport", "region_code": "310000", "grade": "secret"]))
            #expect(try badGrade.status == .badRequest && (json(badGrade)["field"] as? String) == "grade")
            let badSector = try await agency.registerResource(body: .json(.init(title: "x", sector: "no-such-sector", regionCode: "310000",
                                                                                grade: .general)))
            let unknownSector = try badSector.unprocessableContent.body.applicationProblemJson
            #expect(unknownSector.field == "sector" && unknownSector.code == .unknownValue && unknownSector.rule?.contains("transport") == true, "\(badSector)")
            #expect(try await agency.listResources().ok.body.json.items.count == 2)
            #expect(try await ClientTests.pdx(client, market.otherAgencyKey).listResources().ok.body.json.items.isEmpty)

            func grant(_ mode: Components.Schemas.NewAuthorization.ModePayload, operator: UUID, region: String = "320000",
                       until: Date = Date() + 86_400 * 365) async throws -> Operations.GrantAuthorization.Output {
                try await agency.grantAuthorization(body: .json(.init(operatorId: `operator`.uuidString.lowercased(), sectors: ["transport"],
                                                                      regions: [region], scenarios: ["logistics"], mode: mode, validUntil: until)))
            }
            #expect(try await grant(.single, operator: market.operatorParty.id).created.body.json.state == .active)
            let second = try await grant(.multi, operator: market.otherOperator.id)
            #expect(try second.unprocessableContent.body.applicationProblemJson.code == .singleOperatorOverlap,
                    "a single-operator grant keeps its scope to itself: \(second)")
            let notOperator = try await grant(.multi, operator: market.demander.id)
            #expect(try notOperator.badRequest.body.applicationProblemJson.field == "operator_id")
            let tooLong = try await grant(.multi, operator: market.operatorParty.id, region: "330000", until: Date() + 86_400 * 365 * 6)
            #expect(try tooLong.badRequest.body.applicationProblemJson.field == "valid_until")

            // Suspending needs a reason; revoking takes the authorization's products out of the catalogue.
            let grantID = market.grant.uuidString.lowercased(), product = market.product.uuidString.lowercased()
            let noReason = try await agency.suspendAuthorization(path: .init(id: grantID))
            #expect(try noReason.badRequest.body.applicationProblemJson.field == "reason")
            #expect(answer(try await anyone.getProduct(path: .init(id: product))) == "ok")
            let revoked = try await agency.revokeAuthorization(path: .init(id: grantID), body: .json(.init(reason: "terms breached")))
            #expect(try revoked.ok.body.json.state == .revoked)
            #expect(answer(try await anyone.getProduct(path: .init(id: product))) == "notFound")
            let held = try await ClientTests.pdx(client, market.operatorKey).listAuthorizations().ok.body.json.items
            #expect(Set(held.map(\.state)) == [.revoked, .active])
        }
    }
}

@Suite struct WebhookSettingTests {
    @Test func aPartySetsItsWebhookOverHTTPSAndRotatesItsSecret() async throws {
        try await withAPI(live: true) { market, client in
            let pdx = try ClientTests.pdx(client, market.demanderKey)
            let plain = try await pdx.setWebhook(body: .json(.init(url: "http://hooks.example.com/pdx")))
            #expect(try plain.badRequest.body.applicationProblemJson.field == "url", "https only outside development")
            let secret = try #require(try await pdx.setWebhook(body: .json(.init(url: "https://hooks.example.com/pdx"))).ok.body.json.secret)
            let stored = try await market.store.webhook(of: market.demander.id)
            #expect(stored?.url == "https://hooks.example.com/pdx" && stored?.secret == secret)
            let shown = try await pdx.getWebhook().ok.body.json
            #expect(shown.url == "https://hooks.example.com/pdx" && shown.secret == nil, "the secret is shown only once")
            let rotated = try #require(try await pdx.rotateWebhookSecret().ok.body.json.secret)
            #expect(rotated != secret && rotated.count == secret.count)
            #expect(try await market.store.webhook(of: market.demander.id)?.secret == rotated)
            // A POST with no body at all reads as `{}` in the handler and before the transaction alike.
            let bare = try await client.checked(uri: "/v1/webhook", method: .post, headers: [.authorization: "Bearer \(market.demanderKey)"])
            #expect(bare.status == .ok, "\(String(buffer: bare.body))")
            #expect(try await market.store.webhook(of: market.demander.id) == nil, "no URL: deliveries off")
            // The same route spelled with a trailing or a doubled slash (which the router accepts, the contract
            // does not name) is checked the same way.
            for path in ["/v1/webhook/", "/v1//webhook"] {
                let spelled = try await client.execute(uri: path, method: .post, headers: bearer(market.demanderKey),
                                                       body: jsonBody(["url": "https://10.0.0.1/hook"]))
                #expect(try spelled.status == .badRequest && (json(spelled)["field"] as? String) == "url", "\(path)")
            }
            _ = try await pdx.setWebhook(body: .json(.init(url: "https://hooks.example.com/pdx"))).ok
            // What the typed client does not send: an explicit null (it leaves the key out).
            let off = try await client.checked(uri: "/v1/webhook", method: .post, headers: bearer(market.demanderKey),
                                               body: ByteBuffer(string: #"{"url": null}"#))
            #expect(off.status == .ok)
            #expect(try await market.store.webhook(of: market.demander.id) == nil)
        }
    }

    @Test func developmentMayUsePlainHTTP() async throws {
        try await withAPI(APIConfiguration(rateLimit: nil, webhooks: .development)) { market, client in
            let set = try await client.checked(uri: "/v1/webhook", method: .post, headers: bearer(market.demanderKey),
                                               body: jsonBody(["url": "http://127.0.0.1:9000/hook"]))
            #expect(set.status == .ok)
            #expect(try await market.store.webhook(of: market.demander.id)?.url == "http://127.0.0.1:9000/hook")
        }
    }
}

@Suite struct OperationsTests {
    @Test func aKeyOverItsRateLimitGets429WithRetryAfterAndOthersGoOn() async throws {
        // One token per 500 s: however slowly a loaded machine sends these four requests, the fourth finds none.
        try await withAPI(APIConfiguration(rateLimit: RateLimit(perSecond: 0.002, burst: 3))) { market, client in
            for _ in 0..<3 { #expect(try await client.checked(uri: "/v1/demands", method: .get, headers: bearer(market.demanderKey)).status == .ok) }
            let limited = try await client.checked(uri: "/v1/demands", method: .get, headers: bearer(market.demanderKey))
            #expect(try limited.status == .tooManyRequests && (json(limited)["code"] as? String) == "rate_limited")
            #expect(limited.headers[.retryAfter].flatMap { Int($0) }.map { (1...500).contains($0) } == true, "\(limited.headers)")
            #expect(try await client.checked(uri: "/v1/demands", method: .get, headers: bearer(market.otherKey)).status == .ok, "each key has its own")
            let probe = try await client.checked(uri: "/healthz", method: .get, headers: bearer(market.demanderKey))
            #expect(probe.status == .ok, "probes are not rate-limited")
        }
    }

    @Test func theTokenBucketRefillsAtItsRate() {
        let limiter = RateLimiter(RateLimit(perSecond: 2, burst: 2))
        let start = ContinuousClock.now
        #expect(limiter.take("a", now: start) == nil && limiter.take("a", now: start) == nil)
        #expect(limiter.take("a", now: start) == 0.5, "empty: the next token comes in half a second")
        #expect(limiter.take("b", now: start) == nil, "another key has its own bucket")
        #expect(limiter.take("a", now: start + .milliseconds(500)) == nil)
        #expect(limiter.take("a", now: start + .milliseconds(500)) != nil)
        #expect(limiter.take("a", now: start + .seconds(60)) == nil && limiter.take("a", now: start + .seconds(60)) == nil,
                "a long pause refills only up to the burst")
        #expect(limiter.take("a", now: start + .seconds(60)) != nil)
    }

    @Test func metricsAreServedInPrometheusFormat() async throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "pdx", subsystem: "test", metricName: "requests", unitName: "total",
                                                           helpText: "requests counted by the test")).increment(by: Int64(3))
        try await withAPI(APIConfiguration(rateLimit: nil, metrics: registry)) { _, client in
            let metrics = try await client.checked(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok && metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(String(buffer: metrics.body).contains("pdx_test_requests_total 3"))
        }
        try await withAPI { _, client in
            let disabled = try await client.checked(uri: "/metrics", method: .get)
            #expect(disabled.status == .notFound, "not enabled")
        }
    }

    @Test func theContractIsServedAndIsOpenAPI31() async throws {
        try await withAPI { _, client in
            let served = try await client.checked(uri: "/openapi.json", method: .get)
            #expect(served.status == .ok)
            #expect(String(buffer: served.body) == openAPIJSON, "the document as committed, byte for byte")
            let document = try json(served)
            #expect(document["openapi"] as? String == "3.1.0")
            #expect(contract.operations.count == ((document["paths"] as? [String: [String: Any]])?.values.map(\.count).reduce(0, +) ?? -1))
            // The same contract as written, in YAML: what clients in other languages are generated from.
            let written = try await client.checked(uri: "/openapi.yaml", method: .get)
            #expect(written.status == .ok)
            #expect(written.headers[.contentType] == "application/yaml")
            let yaml = String(buffer: written.body)
            #expect(yaml == openAPIYAML)
            #expect(yaml.contains("\nopenapi: 3.1.0\n") && yaml.contains("\ncomponents:\n  headers:"))
            #expect(yaml.contains("$ref: '#/components/parameters/IdempotencyKey'"), "operations refer to the shared parameters")
        }
    }

    /// With the database unreachable, requests that need it get 503 and `Retry-After`; `/healthz` stays up.
    @Test func anUnreachableDatabaseGives503WithRetryAfter() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var connection = PostgresConfiguration(connectionString: "postgresql://pdx@127.0.0.1:1/pdx", connectTimeout: .seconds(1))
        connection.applicationName = "unreachable"
        let pool = PostgresPool(configuration: .init(connection: connection, maxConnections: 2, acquireTimeout: .seconds(2)), logger: logger)
        let app = Application(router: try MarketAPI.router(store: MarketStore(pool: pool), configuration: APIConfiguration(rateLimit: nil)), logger: logger)
        try await app.test(.router) { client in
            #expect(try await client.checked(uri: "/healthz", method: .get).status == .ok)
            for (uri, headers) in [("/readyz", HTTPFields()), ("/v1/products", HTTPFields()),
                                   ("/v1/demands", bearer("pdx_000000000000_" + String(repeating: "0", count: 48)))] {
                let response = try await client.checked(uri: uri, method: .get, headers: headers)
                #expect(response.status == .serviceUnavailable, "\(uri)")
                #expect(try response.headers[.retryAfter] != nil && (json(response)["code"] as? String) == "unavailable", "\(uri)")
            }
        }
        await pool.close()
    }
}

@Suite struct CatalogueCacheTests {
    /// With its listener running, a listed product is read from the database once, then from memory, and
    /// a new version or a delisting reaches the next read (through pdx_catalogue).
    @Test func listedProductsAreServedFromMemoryUntilTheyChange() async throws {
        try await withAPI(APIConfiguration(rateLimit: nil), catalogueCache: true) { market, client in
            let cache = try #require(market.cache)
            let uri = "/v1/products/\(market.product)"
            let first = try await client.checked(uri: uri, method: .get)
            #expect(first.status == .ok && cache.count == 1, "read once, kept")
            // An Accept that takes no JSON is the generated server's to refuse, cached or not.
            let html = try await client.execute(uri: uri, method: .get, headers: [.accept: "text/html"])
            #expect(html.status == .badRequest, "\(String(buffer: html.body))")
            // Served from memory: the same bytes, even with the catalogue row gone from under it (deleted
            // here behind the trigger's back, which only a test would do: no announcement).
            try await market.pool.execute("DELETE FROM catalogue WHERE product_id = \(market.product)")
            let again = try await client.checked(uri: uri, method: .get)
            #expect(again.status == .ok && String(buffer: again.body) == String(buffer: first.body))
            #expect(again.headers[.contentType] == first.headers[.contentType], "answered as the generated server answers")

            // A new version is announced when it commits; the next read has it.
            var version = try market.productVersion(title: "路况指数 v2")
            version.sourceResourceIDs = [market.resource]
            try await market.store.revise(market.product, with: version, by: .party(market.operatorParty.id))
            try await eventually { try json(try await client.checked(uri: uri, method: .get))["title"] as? String == "路况指数 v2" }
            try await market.store.changeProduct(market.product, to: .delisted, reason: "retired", by: .party(market.operatorParty.id))
            try await eventually { try await client.checked(uri: uri, method: .get).status == .notFound }
            #expect(cache.count == 0)
        }
    }

    @Test func aReadThatRacedAChangeIsNotKept() throws {
        let cache = try CatalogueCache(database: PostgresConfiguration(connectionString: "postgresql://pdx@127.0.0.1:1/pdx"), logger: Logger(label: "test"))
        #expect(cache.generation() == nil, "not listening yet: nothing is cached")
        cache.store(ByteBuffer(string: "{}"), of: UUID(), readAt: 0)
        #expect(cache.count == 0)
    }
}

/// Waits up to 10 s for `condition`.
func eventually(_ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("the condition did not hold within 10 s", sourceLocation: sourceLocation)
}
