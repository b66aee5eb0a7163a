import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Market
import MarketAPI
import MarketStore
import Postgres
import Testing

/// Joining the market through HTTP: an application, its review, the one-time claim of the first key;
/// `GET /v1/me`; a key that rotates and expires; a suspended party seen through every kind of endpoint.
@Suite struct JoiningTests {
    static let plain: HTTPFields = [.contentType: "application/json"]

    @Test func anApplicantAppliesIsApprovedAndClaimsItsFirstKeyOnce() async throws {
        try await withAPI { market, client in
            let code = freshCreditCode()
            let body: [String: Any] = ["kind": "demander", "name": "示例物流", "name_en": "Example Logistics", "credit_code": code, "region_code": "310115",
                                       "contact": ["name": "王芳", "email": "wang@example.cn", "phone": "+86 21 5555 0101"],
                                       "classes": ["small_micro"], "scenarios": ["logistics"]]
            let submitted = try await client.checked(uri: "/v1/applications", method: .post, headers: Self.plain, body: jsonBody(body))
            #expect(submitted.status == .created, "\(String(buffer: submitted.body))")
            let application = try json(submitted)
            let id = try #require(application["id"] as? String), secret = try #require(application["claim_secret"] as? String)
            #expect(application["state"] as? String == "pending" && secret.hasPrefix("pdxclaim_"))
            func claim(_ id: String, _ secret: String) async throws -> TestResponse {
                try await client.checked(uri: "/v1/applications/\(id)/claim", method: .post, headers: Self.plain, body: jsonBody(["claim_secret": secret]))
            }
            // Before approval: still under review. A wrong secret is no application at all.
            let early = try await claim(id, secret)
            #expect(try early.status == .conflict && (json(early)["code"] as? String) == "application_pending")
            #expect(try await claim(id, secret + "0").status == .notFound)
            // The same credit code again, while under review or once registered: refused, saying so.
            let duplicate = try await client.checked(uri: "/v1/applications", method: .post, headers: Self.plain, body: jsonBody(body))
            #expect(try duplicate.status == .conflict && (json(duplicate)["code"] as? String) == "duplicate_credit_code")
            // Bad input names the field; an unknown scenario lists the known ones.
            var unknown = body
            unknown["credit_code"] = freshCreditCode()
            unknown["scenarios"] = ["teleportation"]
            let refused = try await client.checked(uri: "/v1/applications", method: .post, headers: Self.plain, body: jsonBody(unknown))
            #expect(try refused.status == .unprocessableContent && (json(refused)["field"] as? String) == "scenarios"
                    && (json(refused)["rule"] as? String)?.contains("logistics") == true, "\(String(buffer: refused.body))")
            var noEmail = body
            noEmail["credit_code"] = freshCreditCode()
            noEmail["contact"] = ["name": "王芳", "email": "nobody"]
            let badEmail = try await client.checked(uri: "/v1/applications", method: .post, headers: Self.plain, body: jsonBody(noEmail))
            #expect(try badEmail.status == .badRequest && (json(badEmail)["field"] as? String) == "contact.email", "\(String(buffer: badEmail.body))")

            let approved = try await market.store.approveApplication(try #require(UUID(uuidString: id)), acceptingClasses: [.smallMicro],
                                                                     evidence: "MIIT 2026-031", expiresAt: Date() + 86_400 * 365,
                                                                     reason: "licence checked", by: market.admin)
            let party = try #require(approved.partyID)
            let claimed = try await claim(id, secret)
            #expect(claimed.status == .created, "\(String(buffer: claimed.body))")
            let key = try #require(try json(claimed)["key"] as? String)
            #expect(try json(claimed)["party_id"] as? String == party.uuidString.lowercased())
            // Once only.
            let again = try await claim(id, secret)
            #expect(try again.status == .conflict && (json(again)["code"] as? String) == "application_claimed")
            // The key says who it is, with the class the administrator verified.
            let me = try json(try await client.checked(uri: "/v1/me", method: .get, headers: bearer(key)))
            #expect(me["id"] as? String == party.uuidString.lowercased() && me["kind"] as? String == "demander" && me["name_en"] as? String == "Example Logistics")
            #expect((me["classes"] as? [[String: Any]])?.compactMap { $0["class"] as? String } == ["small_micro"])
            #expect((me["key"] as? [String: Any])?["prefix"] as? String == String(key.dropFirst(4).prefix(12)))
            let registered = try await client.checked(uri: "/v1/applications", method: .post, headers: Self.plain, body: jsonBody(body))
            #expect(try registered.status == .conflict && (json(registered)["code"] as? String) == "duplicate_credit_code", "registered now")

            // A rejected application says why when claimed.
            var other = body
            other["credit_code"] = freshCreditCode()
            let second = try json(try await client.checked(uri: "/v1/applications", method: .post, headers: Self.plain, body: jsonBody(other)))
            let secondID = try #require(second["id"] as? String)
            try await market.store.rejectApplication(try #require(UUID(uuidString: secondID)), reason: "the licence has lapsed", by: market.admin)
            let rejected = try await claim(secondID, try #require(second["claim_secret"] as? String))
            #expect(try rejected.status == .conflict && (json(rejected)["code"] as? String) == "application_rejected"
                    && (json(rejected)["detail"] as? String)?.contains("the licence has lapsed") == true)
        }
    }

    @Test func applicationsAreLimitedPerAddress() async throws {
        try await withAPI(APIConfiguration(rateLimit: nil, applicationRateLimit: RateLimit(perSecond: 0.001, burst: 2)), live: true) { _, client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<3 {
                let body: [String: Any] = ["kind": "operator", "name": "运营", "credit_code": freshCreditCode(), "region_code": "310000",
                                           "contact": ["name": "李", "email": "li@example.cn"]]
                statuses.append(try await client.checked(uri: "/v1/applications", method: .post, headers: Self.plain, body: jsonBody(body)).status)
            }
            #expect(statuses == [.created, .created, .tooManyRequests])
        }
    }

    @Test func aKeyRotatesAndExpiresAndASuspendedPartysKeyIsRefusedEverywhere() async throws {
        try await withAPI { market, client in
            // Rotation through the API: the new key works, the old one until its grace ends (here at once).
            let rotated = try await client.checked(uri: "/v1/keys/rotate", method: .post, headers: bearer(market.demanderKey),
                                                   body: jsonBody(["grace_seconds": 0]))
            #expect(rotated.status == .created, "\(String(buffer: rotated.body))")
            let next = try #require(json(rotated)["key"] as? String)
            let old = try await client.checked(uri: "/v1/me", method: .get, headers: bearer(market.demanderKey))
            #expect(try old.status == .unauthorized && (json(old)["code"] as? String) == "key_expired")
            #expect(try await client.checked(uri: "/v1/me", method: .get, headers: bearer(next)).status == .ok)
            let tooLong = try await client.checked(uri: "/v1/keys/rotate", method: .post, headers: bearer(next), body: jsonBody(["grace_seconds": 9_999_999]))
            #expect(try tooLong.status == .badRequest && (json(tooLong)["field"] as? String) == "grace_seconds")

            // Suspended: every endpoint of the contract (the public ones too, when called with the key) refuses its
            // key with the reason; reinstated, they answer again.
            try await market.store.changeParty(market.operatorParty.id, to: .suspended, reason: "unpaid fees", by: market.admin)
            for endpoint in endpointCases {
                let uri = endpoint.template.replacingOccurrences(of: "{id}", with: UUID().uuidString.lowercased())
                    .replacingOccurrences(of: "{match}", with: UUID().uuidString.lowercased())
                let response = try await client.checked(uri: uri, method: endpoint.method, headers: bearer(market.operatorKey), body: jsonBody([:]))
                #expect(try response.status == .unauthorized && (json(response)["code"] as? String) == "party_suspended",
                        "\(endpoint.method) \(endpoint.template): \(String(buffer: response.body))")
            }
            // Its listed product left the public catalogue; a buyer cannot order it meanwhile.
            let catalogue = try json(try await client.checked(uri: "/v1/products", method: .get))
            #expect((catalogue["items"] as? [[String: Any]])?.isEmpty == true)
            await #expect(throws: PartyNotActive.self) {
                _ = try await market.store.order(product: market.product, quantity: 1, purpose: .industryDevelopment, buyer: market.demander.id, scenario: "logistics",
                                                 by: .party(market.demander.id))
            }
            try await market.store.changeParty(market.operatorParty.id, to: .active, reason: "fees paid", by: market.admin)
            #expect(try await client.checked(uri: "/v1/me", method: .get, headers: bearer(market.operatorKey)).status == .ok)
            let back = try json(try await client.checked(uri: "/v1/products", method: .get))
            #expect((back["items"] as? [[String: Any]])?.count == 1)
            // Closed: final, with its own code.
            try await market.store.changeParty(market.otherDemander.id, to: .closed, reason: "dissolved", by: market.admin)
            let closed = try await client.checked(uri: "/v1/me", method: .get, headers: bearer(market.otherKey))
            #expect(try closed.status == .unauthorized && (json(closed)["code"] as? String) == "party_closed")
        }
    }

    @Test func sectorsAndScenariosAreListedAndEnforced() async throws {
        try await withAPI { market, client in
            let sectors = try json(try await client.checked(uri: "/v1/sectors", method: .get))
            #expect((sectors["items"] as? [[String: Any]])?.contains { $0["code"] as? String == "transport" && $0["name_zh"] as? String == "交通运输" } == true)
            var demand: [String: Any] = ["title": "物流", "sector": "transport", "scenario": "time_travel", "purpose": "industry_development",
                                         "regions": ["310000"], "fields_wanted": ["road_id"], "quantity": 10, "budget_fen": 1_000, "delivery_modes": ["api"],
                                         "expires_at": ISO8601DateFormatter().string(from: Date() + 86_400)]
            let refused = try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: jsonBody(demand))
            #expect(try refused.status == .unprocessableContent && (json(refused)["code"] as? String) == "unknown_value"
                    && (json(refused)["field"] as? String) == "scenario", "\(String(buffer: refused.body))")
            try await market.store.addTerm(Term(code: "time_travel", nameZH: "时间旅行", nameEN: "time travel"), to: .scenarios, by: market.admin)
            demand["scenario"] = "time_travel"
            #expect(try await client.checked(uri: "/v1/demands", method: .post, headers: bearer(market.demanderKey), body: jsonBody(demand)).status == .created)
        }
    }

    /// A self-declared public-welfare demand is priced, saying why, until the responsible agency approves it;
    /// then it is free, and the quote says whose approval made it so.
    @Test func aPublicInterestPurposeIsFreeOnlyOnceApproved() async throws {
        try await withAPI { market, client in
            var request = try market.demandRequest()
            request.purpose = .publicWelfare
            let demand = try await market.store.postDemand(request, demander: market.demander.id, open: true, by: .party(market.demander.id))
            let declared = try await market.store.quote(product: market.product, quantity: 10, purpose: .publicWelfare, buyer: market.demander.id)
            #expect(declared.amountFen == 500 && declared.lines.first?.step == "public_interest_unverified")
            // Refused first: still priced. The latest decision counts.
            let refusal = try await client.checked(uri: "/v1/demands/\(demand.uuidString.lowercased())/purpose-review", method: .post,
                                                   headers: bearer(market.agencyKey), body: jsonBody(["approve": false, "reason": "a commercial delivery service"]))
            #expect(refusal.status == .created)
            _ = try await market.store.matchDemand(demand)
            #expect(try await market.pool.query("SELECT count(*) FROM matches WHERE demand_id = \(demand) AND quote_fen = 0").scalar(Int64.self) == 0)
            let review = try await client.checked(uri: "/v1/demands/\(demand.uuidString.lowercased())/purpose-review", method: .post,
                                                  headers: bearer(market.agencyKey), body: jsonBody(["approve": true, "reason": "社区养老"]))
            #expect(review.status == .created, "\(String(buffer: review.body))")
            _ = try await market.store.matchDemand(demand)
            let proposals = try await market.pool.query("SELECT quote_fen, quote->'lines'->0->>'detail' FROM matches WHERE demand_id = \(demand)")
                .decode(Int64.self, String.self)
            #expect(proposals.count == 1 && proposals[0].0 == 0 && proposals[0].1.contains(market.agency.id.uuidString.lowercased()), "\(proposals)")
            let operatorReview = try await client.checked(uri: "/v1/demands/\(demand.uuidString.lowercased())/purpose-review", method: .post,
                                                          headers: bearer(market.operatorKey), body: jsonBody(["approve": true, "reason": "x"]))
            #expect(operatorReview.status == .forbidden)
            let commercial = try await market.store.postDemand(try market.demandRequest(), demander: market.demander.id, open: true, by: .party(market.demander.id))
            let notPublic = try await client.checked(uri: "/v1/demands/\(commercial.uuidString.lowercased())/purpose-review", method: .post,
                                                     headers: bearer(market.agencyKey), body: jsonBody(["approve": true, "reason": "x"]))
            #expect(try notPublic.status == .badRequest && (json(notPublic)["field"] as? String) == "purpose")
        }
    }
}
