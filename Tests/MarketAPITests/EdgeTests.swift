import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Market
@testable import MarketAPI
import MarketStore
import PDXClient
import Postgres
import Testing

/// The rules at their edges, as a new user, an auditor or a chaos test would try them (issue 13): text
/// and numbers at their limits, wrong types, other people's addresses as webhooks, life-cycle moves the
/// life cycle does not have, and what the catalogue, an authorization and a demand's proposals show.
@Suite struct InputEdgeTests {
    /// `"\u0000"` is valid JSON, and PostgreSQL's text cannot hold it: refused naming the field wherever
    /// text enters, never a 500, and nothing stored changes.
    @Test func textWithANulCharacterIsRefusedNamingTheField() async throws {
        try await withAPI { market, client in
            func expectRefused(_ response: TestResponse, field: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
                #expect(response.status == .badRequest, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
                #expect(try json(response)["code"] as? String == "invalid_input", sourceLocation: sourceLocation)
                #expect(try json(response)["field"] as? String == field, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
            }
            var demand = market.demandBody()
            demand["title"] = "物流\u{0}路径"
            try expectRefused(try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: jsonBody(demand)),
                              field: "title")
            demand = market.demandBody()
            demand["description"] = "x\u{0}"
            try expectRefused(try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: jsonBody(demand)),
                              field: "description")
            let resource = ["title": "企业\u{0}登记", "sector": "transport", "region_code": "310000", "grade": "general"]
            try expectRefused(try await client.checked(uri: "/v1/resources", method: .post, headers: bearer(market.agencyKey), body: jsonBody(resource)),
                              field: "title")
            let open = try await market.demand(open: true)
            try expectRefused(try await client.checked(uri: "/v1/demands/\(open)/cancel", method: .post, headers: bearer(market.demanderKey),
                                                       body: jsonBody(["reason": "no\u{0}longer needed"])), field: "reason")
            #expect(try await market.store.demandState(open) == .open, "a refused cancel changes nothing")
            try expectRefused(try await client.checked(uri: "/v1/products?q=traffic%00index", method: .get), field: "q")
            try expectRefused(try await client.checked(uri: "/v1/products?sector=trans%00port", method: .get), field: "sector")
            var product = market.productBody()
            product["description"] = "\u{0}"
            try expectRefused(try await client.checked(uri: "/v1/products/\(market.product)", method: .put, headers: bearer(market.operatorKey),
                                                       body: jsonBody(product)), field: "description")
            try expectRefused(try await client.checked(uri: "/v1/webhook", method: .post, headers: bearer(market.demanderKey),
                                                       body: jsonBody(["url": "https://hooks.example.com/\u{0}"])), field: "url")
            var idempotent = bearer(market.demanderKey)
            idempotent[HTTPField.Name("Idempotency-Key")!] = "key\u{1}1"
            try expectRefused(try await client.checked(uri: "/v1/demands", method: .post, headers: idempotent, body: jsonBody(market.demandBody())),
                              field: "Idempotency-Key")
            #expect(try await market.store.demands(of: market.demander.id).count == 1, "only the demand posted by the fixture exists")
        }
    }

    /// Prices, budgets and quantities have bounds at the edge (contract, validation and a database
    /// CHECK), and a quote that would exceed the largest amount is refused, not stored.
    @Test func amountsAndQuantitiesAreBoundedEverywhere() async throws {
        try await withAPI { market, client in
            var product = market.productBody()
            product["authorization_id"] = market.grant.uuidString.lowercased()
            product["list_price_fen"] = 9_000_000_000_000_000_000 as Int64
            let created = try await client.checked(uri: "/v1/products", method: .post, headers: bearer(market.operatorKey), body: jsonBody(product))
            #expect(try created.status == .badRequest && (json(created)["field"] as? String) == "list_price_fen", "\(String(buffer: created.body))")
            product.removeValue(forKey: "authorization_id")
            let revised = try await client.checked(uri: "/v1/products/\(market.product)", method: .put, headers: bearer(market.operatorKey),
                                                   body: jsonBody(product))
            #expect(try revised.status == .badRequest && (json(revised)["field"] as? String) == "list_price_fen")
            var demand = market.demandBody()
            demand["budget_fen"] = 9_000_000_000_000_000_000 as Int64
            let budget = try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: jsonBody(demand))
            #expect(try budget.status == .badRequest && (json(budget)["field"] as? String) == "budget_fen")
            let quote = try await client.checked(uri: "/v1/products/\(market.product)/quote?quantity=10000000000000&purpose=industry_development",
                                                 method: .get, headers: bearer(market.demanderKey))
            #expect(try quote.status == .badRequest && (json(quote)["field"] as? String) == "quantity")
            // The database refuses what the edge would have, whoever writes it.
            _ = try await market.demand(open: false)
            await #expect(throws: PostgresError.self) {
                try await market.pool.execute("UPDATE demands SET budget_fen = 9000000000000000000")
            }
            await #expect(throws: PostgresError.self) {
                try await market.pool.execute("""
                    INSERT INTO product_versions (product_id, version, title, sector, regions, scenarios, fields, delivery_modes, charge_unit, list_price_fen)
                    VALUES (\(market.product), 99, 'x', 'transport', '{310000}', '{logistics}', '{road_id}', '{api}', 'call', 9000000000000000000)
                    """)
            }
        }
    }

    /// A body that is valid JSON but of the wrong type or an impossible value is `invalid_input` naming
    /// the field, as the README promises; only text that is not JSON is `malformed_json`.
    @Test func wrongTypesAndImpossibleDatesNameTheField() async throws {
        try await withAPI { market, client in
            func expectField(_ key: String, _ value: Any, field: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                var demand = market.demandBody()
                demand[key] = value
                let response = try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: jsonBody(demand))
                #expect(response.status == .badRequest, sourceLocation: sourceLocation)
                #expect(try json(response)["code"] as? String == "invalid_input", "\(String(buffer: response.body))", sourceLocation: sourceLocation)
                #expect(try json(response)["field"] as? String == (field ?? key), "\(String(buffer: response.body))", sourceLocation: sourceLocation)
            }
            try await expectField("quantity", 1.5)
            try await expectField("quantity", 1e20)
            try await expectField("quantity", "12")
            try await expectField("expires_at", "tomorrow")
            try await expectField("expires_at", "2027-02-30T00:00:00Z")
            try await expectField("expires_at", "2027-13-01T00:00:00Z")
            try await expectField("regions", "310000")
            try await expectField("open", "yes")
            try await expectField("purpose", "charity")
            try await expectField("delivery_modes", ["api", "fax"], field: "delivery_modes[1]")
            try await expectField("budget_fen", 2.5)
            let malformed = try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey),
                                                     body: ByteBuffer(string: #"{"title": "#))
            #expect(try malformed.status == .badRequest && (json(malformed)["code"] as? String) == "malformed_json")
            #expect(try await market.store.demands(of: market.demander.id).isEmpty, "nothing was posted")
            func with(_ name: HTTPField.Name, _ value: String) -> HTTPFields {
                var headers = bearer(market.demanderKey)
                headers[name] = value
                return headers
            }
            // A body declared as something other than JSON is refused by its header, whatever it holds.
            let typed = try await client.checked(uri: "/v1/demands", method: .post,
                                                 headers: with(.contentType, "text/plain"), body: jsonBody(market.demandBody()))
            #expect(try typed.status == .badRequest && (json(typed)["field"] as? String) == "Content-Type", "\(String(buffer: typed.body))")
            let charset = try await client.checked(uri: "/v1/demands", method: .post,
                                                   headers: with(.contentType, "application/json; charset=utf-8"),
                                                   body: jsonBody(market.demandBody()))
            #expect(charset.status == .created, "a charset parameter is fine: \(String(buffer: charset.body))")
            // An Accept the answer cannot satisfy is refused after the handler ran: its writes roll back.
            let html = try await client.checked(uri: "/v1/demands", method: .post, headers: with(.accept, "text/html"),
                                                body: jsonBody(market.demandBody()))
            #expect(html.status == .badRequest, "\(String(buffer: html.body))")
            #expect(try await market.store.demands(of: market.demander.id).count == 1, "only the well-formed demand was posted")

            let webhook = try await client.checked(uri: "/v1/webhook", method: .post, headers: bearer(market.demanderKey),
                                                   body: jsonBody(["url": "https://exa mple.com/hook"]))
            #expect(try webhook.status == .badRequest && (json(webhook)["field"] as? String) == "url", "the request's own field name")
            let badID = try await client.checked(uri: "/v1/demands/not-a-uuid", method: .get, headers: bearer(market.demanderKey))
            #expect(try badID.status == .badRequest && (json(badID)["code"] as? String) == "invalid_input")
            #expect(try json(badID)["field"] as? String == "id")
            let badMatch = try await client.checked(uri: "/v1/demands/\(UUID())/matches/x/accept", method: .post, headers: bearer(market.demanderKey))
            #expect(try badMatch.status == .badRequest && (json(badMatch)["field"] as? String) == "match")
        }
    }

    /// Bodies built to break a parser, and names that only the database knows, are 400s naming the field.
    @Test func deepNestingAndUnknownSectorsAre400s() async throws {
        try await withAPI { market, client in
            let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
            let nested = try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: ByteBuffer(string: deep))
            #expect(nested.status == .badRequest, "\(String(buffer: nested.body).prefix(300))")
            let grant = try await client.checked(uri: "/v1/authorizations", method: .post, headers: bearer(market.agencyKey), body: jsonBody([
                "operator_id": market.operatorParty.id.uuidString.lowercased(), "sectors": ["no_such_sector"], "regions": ["320000"], "scenarios": ["logistics"],
                "mode": "multi", "valid_until": ISO8601DateFormatter().string(from: Date() + 86_400 * 30)]))
            #expect(try grant.status == .unprocessableContent && (json(grant)["field"] as? String) == "sectors"
                    && (json(grant)["code"] as? String) == "unknown_value", "\(String(buffer: grant.body))")
        }
    }

    /// Lengths are counted as PostgreSQL counts them (code points: a flag is two), a URL scheme in capitals
    /// is a URL, and lists of regions have a bound: each a 400 or a success, never a 500.
    @Test func lengthsCaseAndListSizesNeverReachTheDatabaseUnchecked() async throws {
        try await withAPI { market, client in
            var demand = market.demandBody()
            demand["title"] = String(repeating: "🇨🇳", count: 150)
            let flags = try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: jsonBody(demand))
            #expect(try flags.status == .badRequest && (json(flags)["field"] as? String) == "title", "\(String(buffer: flags.body))")
            demand = market.demandBody()
            demand["regions"] = (0..<201).map { String(format: "32%02d%02d", $0 / 99 + 1, $0 % 99 + 1) }
            let many = try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: jsonBody(demand))
            #expect(try many.status == .badRequest && (json(many)["field"] as? String) == "regions", "\(String(buffer: many.body))")
            let upper = try await client.checked(uri: "/v1/webhook", method: .post, headers: bearer(market.demanderKey),
                                                 body: jsonBody(["url": "HTTPS://1.1.1.1/hook"]))
            #expect(upper.status == .ok, "\(String(buffer: upper.body))")
            #expect(try await market.store.webhook(of: market.demander.id)?.url == "https://1.1.1.1/hook")
        }
    }

    /// Every `code` a problem may carry is one the contract and the README name.
    @Test func everyProblemCodeIsDocumented() throws {
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(openAPIJSON.utf8)) as? [String: Any])
        let components = try #require(schema["components"] as? [String: Any])
        let problem = try #require((components["schemas"] as? [String: Any])?["Problem"] as? [String: Any])
        let codes = try #require((problem["properties"] as? [String: Any])?["code"] as? [String: Any])
        let listed = try #require(codes["enum"] as? [String], "the contract lists the codes")
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        for code in listed { #expect(readme.contains("`\(code)`"), "the README names \(code)") }
        for rule in PolicyViolation.Rule.allCases {
            #expect(listed.contains(rule.rawValue), "\(rule.rawValue) is in the contract")
        }
        for code in ["invalid_input", "malformed_json", "unauthorized", "forbidden", "not_found", "method_not_allowed", "state_conflict",
                     "too_large", "rate_limited", "unavailable", "internal", "idempotency_key_reused"] {
            #expect(listed.contains(code), "\(code) is in the contract")
        }
    }
}

@Suite struct WebhookAddressTests {
    /// A webhook may not point at this machine, the link-local metadata service, a private network or
    /// the database: the API would make pdx call into places its users cannot reach.
    @Test func privateLoopbackAndLinkLocalAddressesAreRefused() async throws {
        try await withAPI(live: true) { market, client in
            let pdx = try ClientTests.pdx(client, market.demanderKey)
            for url in ["https://127.0.0.1/hook", "https://localhost/hook", "https://169.254.169.254/latest/meta-data", "https://10.1.2.3/hook",
                        "https://192.168.1.10/hook", "https://172.16.0.1/hook", "https://[::1]/hook", "https://[fe80::1]/hook", "https://[fd00::1]/hook",
                        "https://[::ffff:127.0.0.1]/hook", "https://0.0.0.0/hook", "https://2130706433/hook", "https://127.1/hook",
                        "https://100.64.0.1/hook", "https://203.0.113.7/hook", "https://[2001:db8::1]/hook", "https://224.0.0.1/hook",
                        "https://[64:ff9b::a9fe:a9fe]/hook"] {
                let refused = try await pdx.setWebhook(body: .json(.init(url: url)))
                #expect(try refused.badRequest.body.applicationProblemJson.field == "url", "\(url): \(refused)")
            }
            #expect(try await market.store.webhook(of: market.demander.id) == nil)
            let allowed = try await pdx.setWebhook(body: .json(.init(url: "https://1.1.1.1/hook")))
            #expect(answer(allowed) == "ok", "a public address is fine: \(allowed)")
        }
    }
}

@Suite struct VisibilityEdgeTests {
    /// The catalogue shows only what can be bought: a suspended authorization takes its products out
    /// (from memory too) until it is reinstated.
    @Test func aSuspendedAuthorizationsProductsLeaveTheCatalogueUntilReinstated() async throws {
        try await withAPI(catalogueCache: true, live: true) { market, client in
            let anyone = try ClientTests.pdx(client, nil), agency = try ClientTests.pdx(client, market.agencyKey)
            let product = Operations.GetProduct.Input.Path(id: market.product.uuidString.lowercased())
            let grant = market.grant.uuidString.lowercased()
            #expect(answer(try await anyone.getProduct(path: product)) == "ok")
            #expect(answer(try await agency.suspendAuthorization(path: .init(id: grant), body: .json(.init(reason: "audit pending")))) == "ok")
            try await eventually { answer(try await anyone.getProduct(path: product)) == "notFound" }
            #expect(try await anyone.searchProducts().ok.body.json.items.isEmpty)
            let quote = try await ClientTests.pdx(client, market.demanderKey).quoteProduct(
                path: .init(id: product.id), query: .init(quantity: 1, purpose: .industryDevelopment))
            #expect(answer(quote) == "notFound")
            // Its operator still sees it, as its own.
            #expect(try await ClientTests.pdx(client, market.operatorKey).getProduct(path: product).ok.body.json.state == .listed)
            #expect(answer(try await agency.reinstateAuthorization(path: .init(id: grant))) == "ok")
            try await eventually { answer(try await anyone.getProduct(path: product)) == "ok" }
            #expect(try await anyone.searchProducts().ok.body.json.items.count == 1)
        }
    }

    /// An operator reads why and when its authorization was suspended or revoked.
    @Test func anAuthorizationSaysWhyAndWhenItsStateChanged() async throws {
        try await withAPI(live: true) { market, client in
            let agency = try ClientTests.pdx(client, market.agencyKey), holder = try ClientTests.pdx(client, market.operatorKey)
            let grant = market.grant.uuidString.lowercased()
            let before = Date()
            #expect(answer(try await agency.suspendAuthorization(path: .init(id: grant), body: .json(.init(reason: "数据安全审查 security review")))) == "ok")
            let seen = try await holder.getAuthorization(path: .init(id: grant)).ok.body.json
            #expect(seen.state == .suspended && seen.stateReason == "数据安全审查 security review")
            #expect(try #require(seen.stateChangedAt) >= before.addingTimeInterval(-1))
            #expect(answer(try await agency.revokeAuthorization(path: .init(id: grant), body: .json(.init(reason: "terms breached")))) == "ok")
            let listed = try await holder.listAuthorizations().ok.body.json.items
            #expect(listed.first { $0.id == grant }?.stateReason == "terms breached")
        }
    }

    /// A demand's proposals come best first, equal scores by id.
    @Test func aDemandsProposalsAreListedBestFirst() async throws {
        try await withAPI(live: true) { market, client in
            for (index, fields) in [["origin"], ["road_id", "speed"], ["road_id"], ["speed", "origin"], ["road_id", "origin", "speed"]].enumerated() {
                var version = try market.productVersion()
                version.title = "产品 \(index)"
                version.fields = fields
                let product = try await market.store.createProduct(version, operator: market.operatorParty.id, authorization: market.grant,
                                                                   by: .party(market.operatorParty.id))
                try await market.store.list(product.id, by: .party(market.operatorParty.id))
            }
            let demander = try ClientTests.pdx(client, market.demanderKey)
            for _ in 0..<3 {
                let demand = try await market.demand(open: true)
                #expect(try await market.store.matchDemand(demand).proposed.count >= 5)
                let listed = try await demander.listDemandMatches(path: .init(id: demand.uuidString.lowercased())).ok.body.json.items
                let order = listed.map { ($0.score, $0.id) }
                #expect(order.map(\.0) == order.map(\.0).sorted(by: >), "best first: \(order)")
                for (earlier, later) in zip(order, order.dropFirst()) where earlier.0 == later.0 {
                    #expect(earlier.1 < later.1, "equal scores by id")
                }
            }
        }
    }
}

@Suite struct LifecycleEdgeTests {
    /// Cancelling a demand withdraws its proposals in the same transaction; a move the life cycle does
    /// not have (`open` on a matched demand) is a 409 and changes nothing.
    @Test func cancellingWithdrawsProposalsAndOpeningAMatchedDemandIsAConflict() async throws {
        try await withAPI(live: true) { market, client in
            let pdx = try ClientTests.pdx(client, market.demanderKey)
            let (demand, match) = try await market.proposal()
            let path = Operations.AcceptMatch.Input.Path(id: demand.uuidString.lowercased(), match: match.uuidString.lowercased())
            let reopen = try await pdx.openDemand(path: .init(id: path.id))
            #expect(try reopen.conflict.body.applicationProblemJson.code == .stateConflict)
            #expect(try await market.store.demandState(demand) == .matched)
            #expect(try await market.store.matchDetail(match).summary.state == .proposed)

            #expect(answer(try await pdx.cancelDemand(path: .init(id: path.id), body: .json(.init(reason: "found another source")))) == "ok")
            let detail = try await market.store.matchDetail(match)
            #expect(detail.summary.state == .withdrawn && detail.stateReason?.contains("cancelled") == true)
            #expect(answer(try await pdx.acceptMatch(path: path)) == "conflict", "a cancelled demand's proposal cannot become an order")
            #expect(try await market.pool.query("SELECT count(*) FROM orders").scalar(Int64.self) == 0)
        }
    }
}

@Suite struct RevisionEdgeTests {
    /// The market's product as its operator revises it: `list_price_fen` and the rest of its content.
    static func content(_ market: APIMarket, price: Int64, title: String = "货运流向 freight flows", fields: [String] = ["origin", "destination"],
                        modes: Components.Schemas.ProductContent.DeliveryModesPayload = [.api]) -> Components.Schemas.ProductContent {
        .init(title: title, sector: "transport", regions: ["310000"], scenarios: ["logistics"], fields: fields, deliveryModes: modes,
              chargeUnit: .call, listPriceFen: price, sourceResourceIds: [market.resource.uuidString.lowercased()])
    }

    /// A listed product's price rise through `PUT` waits for the notice period: buyers keep today's
    /// price, see the coming one and when; a decrease applies at once.
    @Test func aPriceRiseThroughARevisionWaitsForTheNoticePeriod() async throws {
        try await withAPI(live: true) { market, client in
            let pdx = try ClientTests.pdx(client, market.operatorKey), product = market.product.uuidString.lowercased()
            func quote() async throws -> Int64 {
                try await market.store.quote(product: market.product, quantity: 10, purpose: .industryDevelopment, buyer: market.demander.id).amountFen
            }
            #expect(try await quote() == 500)
            let raised = try await pdx.updateProduct(path: .init(id: product),
                                                     body: .json(Self.content(market, price: 150, title: "路况指数 traffic index"))).ok.body.json
            #expect(try await quote() == 500, "the rise does not apply before its notice period")
            #expect(raised.listPriceFen == 50 && raised.version == 1)
            let coming = try #require(raised.pendingVersion, "the coming version is shown: \(raised)")
            #expect(coming.listPriceFen == 150 && coming.effectiveAt > Date() + 29 * 86_400)
            let public_ = try await ClientTests.pdx(client, nil).getProduct(path: .init(id: product)).ok.body.json
            #expect(public_.pendingVersion?.listPriceFen == 150, "buyers see the notice too")

            let lowered = try await pdx.updateProduct(path: .init(id: product),
                                                      body: .json(Self.content(market, price: 40, title: "路况指数 traffic index"))).ok.body.json
            #expect(try await quote() == 400, "a decrease applies at once")
            #expect(lowered.listPriceFen == 40 && lowered.version == 2)
            #expect(lowered.pendingVersion == nil, "the later revision replaced the announced rise")
            // Always present, as null (what the typed client cannot tell from absent).
            let raw = try json(try await client.checked(uri: "/v1/products/\(product)", method: .get))
            #expect(raw["pending_version"] is NSNull)
        }
    }

    /// A revision that takes effect requotes the old version's proposals, or withdraws those the new
    /// version no longer fits; an order is only ever placed for the version on sale.
    @Test func aRevisionRequotesOrWithdrawsTheOldVersionsProposals() async throws {
        try await withAPI(live: true) { market, client in
            let pdx = try ClientTests.pdx(client, market.operatorKey), product = market.product.uuidString.lowercased()
            let (_, match) = try await market.proposal()
            let fields = ["road_id", "speed"]
            #expect(answer(try await pdx.updateProduct(path: .init(id: product), body: .json(Self.content(market, price: 40, fields: fields)))) == "ok")
            let requoted = try await market.store.matchDetail(match)
            #expect(requoted.summary.state == .proposed && requoted.summary.productVersion == 2 && requoted.summary.quoteFen == 40_000)
            let (otherDemand, other) = try await market.proposal()
            #expect(answer(try await pdx.updateProduct(path: .init(id: product),
                                                       body: .json(Self.content(market, price: 40, fields: fields, modes: [.file])))) == "ok")
            #expect(try await market.store.matchDetail(other).summary.state == .withdrawn, "the demand wants api delivery")
            let accepted = try await ClientTests.pdx(client, market.demanderKey).acceptMatch(
                path: .init(id: otherDemand.uuidString.lowercased(), match: other.uuidString.lowercased()))
            #expect(answer(accepted) == "conflict")
            #expect(try await market.pool.query("SELECT count(*) FROM orders WHERE product_version <> 3").scalar(Int64.self) == 0)
        }
    }
}

@Suite struct RegionHierarchyTests {
    /// GB/T 2260 codes are a hierarchy: a single-operator grant for a province excludes another
    /// operator's grant for one of its districts (and the other way round), and a province-wide grant
    /// covers products for its cities.
    @Test func singleOperatorModeCoversSubRegionsAndAProvinceGrantCoversItsCities() async throws {
        try await withAPI(live: true) { market, client in
            let agency = try ClientTests.pdx(client, market.agencyKey)
            func grant(_ mode: Components.Schemas.NewAuthorization.ModePayload, _ operatorID: UUID, _ region: String,
                       sector: String = "health") async throws -> Operations.GrantAuthorization.Output {
                try await agency.grantAuthorization(body: .json(.init(operatorId: operatorID.uuidString.lowercased(), sectors: [sector], regions: [region],
                                                                      scenarios: ["logistics"], mode: mode, validUntil: Date() + 86_400 * 365)))
            }
            #expect(answer(try await grant(.single, market.operatorParty.id, "110000")) == "created")
            let district = try await grant(.multi, market.otherOperator.id, "110101")
            #expect(try district.unprocessableContent.body.applicationProblemJson.code == .singleOperatorOverlap, "\(district)")
            #expect(answer(try await grant(.multi, market.otherOperator.id, "120000")) == "created", "Tianjin is elsewhere")
            #expect(answer(try await grant(.single, market.otherOperator.id, "440305", sector: "energy")) == "created")
            let province = try await grant(.multi, market.operatorParty.id, "440000", sector: "energy")
            #expect(answer(province) == "unprocessableContent", "a province-wide grant overlaps a single-operator district inside it")

            // The market's grant covers Shanghai: a product for one district of it is inside its scope.
            var content = RevisionEdgeTests.content(market, price: 30)
            content.regions = ["310115"]
            let created = try await ClientTests.pdx(client, market.operatorKey).createProduct(body: .json(.init(
                value1: content, value2: .init(authorizationId: market.grant.uuidString.lowercased()))))
            #expect(answer(created) == "created", "\(created)")
        }
    }
}
