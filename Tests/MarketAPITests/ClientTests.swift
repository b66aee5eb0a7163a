import Foundation
import HummingbirdTesting
import Market
import MarketStore
import PDXClient
import Testing

/// PDXClient, the client generated from openapi.yaml, against the API on a real port: what a Swift user
/// of pdx writes. Its types decode every answer strictly (an undocumented field or status is an error), so
/// these tests also hold the server to the contract from the client's side.
@Suite struct ClientTests {
    /// The API on `client`'s port as the party holding `key` (nil: anyone).
    static func pdx(_ client: any TestClientProtocol, _ key: String?) throws -> Client {
        Client(serverURL: URL(string: "http://127.0.0.1:\(try #require(client.port))")!, apiKey: key, timeout: .seconds(30))
    }

    @Test func aTypedClientRegistersGrantsListsQuotesAndPosts() async throws {
        try await withAPI(live: true) { market, client in
            let agency = try Self.pdx(client, market.agencyKey), operatorClient = try Self.pdx(client, market.operatorKey)
            let demander = try Self.pdx(client, market.demanderKey), anyone = try Self.pdx(client, nil)

            let registered = try await agency.registerResource(body: .json(.init(title: "公交刷卡 bus fares", sector: "transport",
                                                                                   regionCode: "310000", grade: .general))).created
            let resource = try registered.body.json
            #expect(resource.id == resource.id.lowercased() && UUID(uuidString: resource.id) != nil, "ids are lower-case UUIDs")
            #expect(registered.headers.location == "/v1/resources/\(resource.id)")

            let content = Components.Schemas.ProductContent(title: "公交客流 bus ridership", sector: "transport", regions: ["310000"],
                                                            scenarios: ["logistics"], fields: ["stop_id"], deliveryModes: [.api],
                                                            chargeUnit: .record, listPriceFen: 20, sourceResourceIds: [resource.id])
            let created = try await operatorClient.createProduct(body: .json(.init(
                value1: content, value2: .init(authorizationId: market.grant.uuidString.lowercased())))).created.body.json
            #expect(created.state == .draft && created.version == 1 && created.pendingVersion == nil)
            let listed = try await operatorClient.listProduct(path: .init(id: created.id)).ok.body.json
            #expect(listed.state == .listed)

            let found = try await anyone.searchProducts(query: .init(region: "310000", q: "ridership")).ok.body.json
            #expect(found.items.map(\.id) == [created.id])
            let quote = try await demander.quoteProduct(path: .init(id: created.id), query: .init(quantity: 1_000, purpose: .industryDevelopment))
                .ok.body.json
            #expect(quote.amountFen == 20_000 && quote.quantity == 1_000 && !quote.lines.isEmpty)
            _ = try await market.store.verifyParty(market.demander.id, as: .publicInstitution, evidence: "事业单位法人证书", expiresAt: Date() + 86_400,
                                                   by: .administrator("test"))
            let free = try await demander.quoteProduct(path: .init(id: created.id), query: .init(quantity: 1_000, purpose: .publicWelfare)).ok.body.json
            #expect(free.amountFen == 0, "public welfare use of a verified public institution is free")

            var posted: [String] = []
            for title in ["路线优化 routes", "站点规划 stops"] {
                let demand = try await demander.postDemand(body: .json(.init(
                    title: title, sector: "transport", scenario: "logistics", purpose: .industryDevelopment, regions: ["310000"],
                    fieldsWanted: ["stop_id"], quantity: 1_000, budgetFen: 100_000, deliveryModes: [.api], expiresAt: Date() + 30 * 86_400)))
                    .created.body.json
                #expect(demand.state == .draft && demand.title == title)
                posted.append(demand.id)
            }
            // Cursor paging: one at a time, then the end.
            let first = try await demander.listDemands(query: .init(limit: 1)).ok.body.json
            let cursor = try #require(first.next)
            let second = try await demander.listDemands(query: .init(after: cursor, limit: 1)).ok.body.json
            #expect(Set(first.items.map(\.id) + second.items.map(\.id)) == Set(posted))
            let opened = try await demander.openDemand(path: .init(id: posted[0])).ok.body.json
            #expect(opened.state == .open)
        }
    }

    @Test func problemsAreTypedAndNameTheFieldAndTheRule() async throws {
        try await withAPI(live: true) { market, client in
            let demander = try Self.pdx(client, market.demanderKey), operatorClient = try Self.pdx(client, market.operatorKey)
            let badRegion = try await demander.postDemand(body: .json(.init(
                title: "x", sector: "transport", scenario: "logistics", purpose: .industryDevelopment, regions: ["31"], fieldsWanted: ["stop_id"],
                quantity: 1, budgetFen: 0, deliveryModes: [.api], expiresAt: Date() + 86_400)))
            let problem = try badRegion.badRequest.body.applicationProblemJson
            #expect(problem.code == .invalidInput && problem.status == 400, "\(problem)")
            #expect(problem.field == "regions" && problem.rule?.contains("six-digit") == true, "\(problem)")

            let anonymous = try await Self.pdx(client, nil).listDemands()
            #expect(try anonymous.unauthorized.body.applicationProblemJson.code == .unauthorized)
            let notAnAgency = try await operatorClient.registerResource(body: .json(.init(title: "x", sector: "transport", regionCode: "310000",
                                                                                            grade: .general)))
            #expect(try notAnAgency.forbidden.body.applicationProblemJson.code == .forbidden)
            let missing = try await demander.getProduct(path: .init(id: UUID().uuidString.lowercased()))
            #expect(try missing.notFound.body.applicationProblemJson.code == .notFound)
        }
    }

    @Test func aRetryWithTheSameIdempotencyKeyGetsTheFirstAnswer() async throws {
        try await withAPI(live: true) { market, client in
            let demander = try Self.pdx(client, market.demanderKey)
            let body = Components.Schemas.NewDemand(title: "重试 retried", sector: "transport", scenario: "logistics", purpose: .industryDevelopment,
                                                    regions: ["310000"], fieldsWanted: ["stop_id"], quantity: 1, budgetFen: 0, deliveryModes: [.api],
                                                    expiresAt: Date(timeIntervalSince1970: 2_000_000_000), open: true)
            let first = try await demander.postDemand(headers: .init(idempotencyKey: "retry-1"), body: .json(body)).created.body.json
            let again = try await demander.postDemand(headers: .init(idempotencyKey: "retry-1"), body: .json(body)).created.body.json
            #expect(again == first, "the first response again, not a second demand")
            #expect(try await demander.listDemands().ok.body.json.items.map(\.id) == [first.id])
            var changed = body
            changed.title = "另一个 another"
            let reused = try await demander.postDemand(headers: .init(idempotencyKey: "retry-1"), body: .json(changed))
            #expect(try reused.unprocessableContent.body.applicationProblemJson.code == .idempotencyKeyReused)
        }
    }
}
