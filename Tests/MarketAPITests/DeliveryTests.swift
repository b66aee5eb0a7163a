import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import LocalPostgres
import Market
import MarketAPI
import MarketJobs
import MarketStore
import PDXTokens
import Postgres
import Testing

/// Orders that deliver: an entitlement per delivered order whose state follows its causes, tokens that
/// gateways verify offline (and the verify endpoint), usage counted once per event, statements and the ledger.
@Suite(.serialized) struct DeliveryTests {
    typealias Get = SeeingTests

    static func jwks(_ client: some TestClientProtocol) async throws -> TokenVerifier {
        let response = try await client.checked(uri: "/.well-known/jwks.json", method: .get)
        #expect(response.status == .ok)
        return try TokenVerifier(jwks: Data(response.body.readableBytesView))
    }

    static func token(_ client: some TestClientProtocol, _ entitlement: UUID, _ key: String, ttl: Int = 300) async throws -> (HTTPResponse.Status, [String: Any]) {
        let (status, body, _) = try await Get.post(client, "/v1/entitlements/\(entitlement.uuidString.lowercased())/tokens", key, ["ttl_seconds": ttl])
        return (status, body)
    }

    static func verify(_ client: some TestClientProtocol, _ token: String, _ key: String) async throws -> [String: Any] {
        let (status, body, _) = try await Get.post(client, "/v1/entitlements/verify", key, ["token": token])
        #expect(status == .ok)
        return body
    }

    @Test func aDeliveredOrderEntitlesItsBuyerWithTokensGatewaysVerifyOffline() async throws {
        try await withAPI { market, client in
            let id = try await market.entitlement()
            let (status, entitlement) = try await Get.get(client, "/v1/entitlements/\(id.uuidString.lowercased())", market.demanderKey)
            #expect(status == .ok)
            #expect(entitlement["buyer_id"] as? String == market.demander.id.lowercased && entitlement["seller_id"] as? String == market.operatorParty.id.lowercased)
            #expect(entitlement["scenario"] as? String == "logistics" && entitlement["purpose"] as? String == "industry_development")
            #expect(entitlement["metered"] as? Bool == true && entitlement["units_granted"] as? Int == 1000 && entitlement["units_left"] as? Int == 1000)
            #expect(entitlement["state"] as? String == "active" && entitlement["charge_unit"] as? String == "call")
            // Listed for both parties, nobody else.
            #expect(Get.ids(["items": []]).isEmpty)
            for key in [market.demanderKey, market.operatorKey] {
                let page = try await Get.get(client, "/v1/entitlements", key).1
                #expect((page["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [id.lowercased])
            }
            #expect((try await Get.get(client, "/v1/entitlements", market.otherKey).1["items"] as? [Any])?.isEmpty == true)

            // A token: signed, verified offline against the published keys, carrying what the buyer declared.
            let (created, body) = try await Self.token(client, id, market.demanderKey)
            #expect(created == .created)
            let token = try #require(body["token"] as? String)
            #expect(body["jwks_url"] as? String == "/.well-known/jwks.json")
            let verifier = try await Self.jwks(client)
            let claims = try verifier.verify(token)
            #expect(claims.ent == id.lowercased && claims.sub == market.demander.id.lowercased && claims.aud == market.operatorParty.id.lowercased)
            #expect(claims.prd == market.product.lowercased && claims.scn == "logistics" && claims.pur == "industry_development" && claims.iss == "pdx")
            #expect(claims.exp - claims.iat <= 300 && claims.exp > Int64(Date().timeIntervalSince1970))
            // Expired, tampered, signed by a key pdx does not publish, or with a name it does not know: refused.
            #expect(throws: EntitlementToken.Refusal.expired) { try verifier.verify(token, now: claims.expiresAt + 1) }
            let parts = token.split(separator: ".").map(String.init)
            var forged = claims
            forged.ent = UUID().uuidString.lowercased()
            let forgedPayload = Base64URL.encode(try JSONEncoder().encode(forged))
            #expect(throws: EntitlementToken.Refusal.badSignature) { try verifier.verifySignature([parts[0], forgedPayload, parts[2]].joined(separator: ".")) }
            let kid = try #require(verifier.keyIDs.first)
            let stranger = try EntitlementToken.sign(claims, kid: kid, key: P256.Signing.PrivateKey())
            #expect(throws: EntitlementToken.Refusal.badSignature) { try verifier.verify(stranger) }
            let unnamed = try EntitlementToken.sign(claims, kid: "pdx-unknown", key: P256.Signing.PrivateKey())
            #expect(throws: EntitlementToken.Refusal.unknownKey) { try verifier.verify(unnamed) }
            #expect(throws: EntitlementToken.Refusal.malformed) { try verifier.verify("a.b") }

            // The verify endpoint: the seller learns the entitlement's state; anyone else learns nothing.
            let answer = try await Self.verify(client, token, market.operatorKey)
            #expect(answer["valid"] as? Bool == true && (answer["entitlement"] as? [String: Any])?["id"] as? String == id.lowercased)
            for key in [market.otherOperatorKey, market.demanderKey] {
                let refused = try await Self.verify(client, token, key)
                #expect(refused["valid"] as? Bool == false && refused["reason"] as? String == "not_your_entitlement" && refused["entitlement"] == nil)
            }
            #expect(try await Self.verify(client, stranger, market.operatorKey)["reason"] as? String == "bad_signature")

            // Only the buyer gets tokens, for at most an hour.
            #expect(try await Self.token(client, id, market.operatorKey).0 == .notFound)
            #expect(try await Self.token(client, id, market.demanderKey, ttl: 30).0 == .badRequest)
            #expect(try await Self.token(client, id, market.demanderKey, ttl: 7200).0 == .badRequest)

            // Rotation: new tokens carry the new key; the old key stays published while its tokens live.
            let newKid = try await market.store.rotateSigningKey(by: "li.wei", reason: "quarterly")
            let rotated = try await Self.jwks(client)
            #expect(Set(rotated.keyIDs) == [kid, newKid])
            #expect(try rotated.verify(token).ent == id.lowercased)
            let fresh = try #require(try await Self.token(client, id, market.demanderKey).1["token"] as? String)
            #expect(try rotated.verify(fresh).ent == id.lowercased)
            #expect(try await Self.token(client, id, market.demanderKey).1["key_id"] as? String == newKid)
            // An hour after retiring, the old key is gone from the set, and its tokens with it.
            try await market.pool.execute("UPDATE signing_keys SET retired_at = created_at WHERE kid = \(kid)")
            try await market.pool.execute("UPDATE signing_keys SET created_at = now() - interval '2 hours', retired_at = now() - interval '2 hours' WHERE kid = \(kid)")
            let later = try await Self.jwks(client)
            #expect(later.keyIDs == [newKid])
            #expect(throws: EntitlementToken.Refusal.unknownKey) { try later.verify(token) }
            #expect(try await Self.verify(client, token, market.operatorKey)["reason"] as? String == "unknown_key")
        }
    }

    /// The README's gateway example in another language: Python with PyJWT verifies a token against the JWKS
    /// pdx serves (CI installs PyJWT; without it this fails and says what to install).
    @Test func thePythonGatewayExampleVerifiesATokenOffline() async throws {
        try await withAPI(live: true) { market, client in
            let id = try await market.entitlement()
            let token = try #require(try await Self.token(client, id, market.demanderKey).1["token"] as? String)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("deploy/examples/verify_token.py")
            let jwks = "http://127.0.0.1:\(try #require(client.port))/.well-known/jwks.json"
            func python(_ arguments: [String]) async throws -> (Int32, String, String) {
                // Debian's python3-jwt serves Debian's interpreter, which another python3 (pyenv's) may hide on PATH.
                let system = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
                let outcome = try await ExternalProgram.run(system ? "/usr/bin/python3" : "/usr/bin/env",
                                                            (system ? [] : ["python3"]) + [script.path, "--jwks-url", jwks] + arguments)
                return (outcome.status, outcome.output, outcome.status == 0 ? "" : outcome.output)
            }
            let (status, output, error) = try await python(["--audience", market.operatorParty.id.lowercased, token])
            #expect(!error.contains("No module named 'jwt'"), "install PyJWT: pip install \"pyjwt[crypto]\"")
            #expect(status == 0, "\(error)")
            let claims = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            #expect(claims["ent"] as? String == id.lowercased && claims["sub"] as? String == market.demander.id.lowercased)
            #expect(claims["scn"] as? String == "logistics" && claims["pur"] as? String == "industry_development")
            // Another seller's gateway, and a tampered token, are refused.
            let (other, _, otherError) = try await python(["--audience", market.otherOperator.id.lowercased, token])
            #expect(other == 1 && otherError.contains("refused"), "\(otherError)")
            var parts = token.split(separator: ".").map(String.init)
            parts[2] = String(parts[2].reversed())
            let (tampered, _, tamperedError) = try await python(["--audience", market.operatorParty.id.lowercased, parts.joined(separator: ".")])
            #expect(tampered == 1 && tamperedError.contains("refused"), "\(tamperedError)")
        }
    }

    /// With the access cache (what `pdx serve` runs), keys, tokens and entitlements are checked from memory,
    /// and a change committed elsewhere is seen at once: a key revoked, a party suspended, an entitlement
    /// suspended, a signing key rotated.
    @Test func whatTheAccessCacheKeepsIsDroppedWhenItChanges() async throws {
        try await withAPI(accessCache: true) { market, client in
            let store = market.store, admin = market.admin
            let id = try await market.entitlement()
            let token = try #require(try await Self.token(client, id, market.demanderKey).1["token"] as? String)
            // Read twice: the second from memory (the same answer, the entitlement's JSON as the API writes it).
            let first = try await Self.verify(client, token, market.operatorKey), second = try await Self.verify(client, token, market.operatorKey)
            #expect(first["valid"] as? Bool == true && second["valid"] as? Bool == true && second["expires_at"] as? String == first["expires_at"] as? String)
            let entitlement = try #require(second["entitlement"] as? [String: Any])
            #expect(entitlement["id"] as? String == id.lowercased && entitlement["units_granted"] as? Int == 1000 && entitlement["state"] as? String == "active")
            #expect(try await Self.verify(client, token, market.otherOperatorKey)["reason"] as? String == "not_your_entitlement")
            #expect(try await Self.verify(client, "x.y.z", market.operatorKey)["reason"] as? String == "malformed_token")
            let (empty, _, _) = try await Get.post(client, "/v1/entitlements/verify", market.operatorKey, ["token": ""])
            #expect(empty == .badRequest)
            // Spaces are read as JSON reads them; anything else than a token goes to the generated server, which answers the same way.
            let spaced = try await client.checked(uri: "/v1/entitlements/verify", method: .post, headers: bearer(market.operatorKey),
                                                  body: ByteBuffer(string: " {\n \"token\" : \"\(token)\" }\n"))
            let spacedValid = try json(spaced)["valid"] as? Bool
            #expect(spaced.status == .ok && spacedValid == true)
            let extra = try await Get.post(client, "/v1/entitlements/verify", market.operatorKey, ["token": token, "extra": 1])
            #expect(extra.0 == .badRequest)
            let escaped = try await client.checked(uri: "/v1/entitlements/verify", method: .post, headers: bearer(market.operatorKey),
                                                   body: ByteBuffer(string: #"{"token":""# + token.replacingOccurrences(of: ".", with: #"\u002e"#) + #""}"#))
            let escapedValid = try json(escaped)["valid"] as? Bool
            #expect(escaped.status == .ok && escapedValid == true, "an escaped character is still JSON")
            try await store.changeAuthorization(market.grant, to: .suspended, reason: "review", by: admin)
            try await eventually { try await Self.verify(client, token, market.operatorKey)["reason"] as? String == "entitlement_suspended" }
            try await store.changeAuthorization(market.grant, to: .active, reason: nil, by: admin)
            try await eventually { try await Self.verify(client, token, market.operatorKey)["valid"] as? Bool == true }
            // A key revoked elsewhere stops working; a suspended party's keys too.
            let spare = try await store.createAPIKey(party: market.otherDemander.id, by: admin)
            #expect(try await Get.get(client, "/v1/entitlements", spare.token).0 == .ok)
            try await store.revokeAPIKey(spare.key.id, reason: "leaked", by: admin)
            try await eventually { try await Get.get(client, "/v1/entitlements", spare.token).0 == .unauthorized }
            #expect(try await Get.get(client, "/v1/entitlements", market.otherKey).0 == .ok)
            _ = try await store.changeParty(market.otherDemander.id, to: .suspended, reason: "audit", by: admin)
            try await eventually { try await Get.get(client, "/v1/entitlements", market.otherKey).0 == .unauthorized }
            // A rotation: tokens of the new key verify at once.
            _ = try await store.rotateSigningKey(by: "li.wei", reason: "rotation")
            let fresh = try #require(try await Self.token(client, id, market.demanderKey).1["token"] as? String)
            try await eventually { try await Self.verify(client, fresh, market.operatorKey)["valid"] as? Bool == true }
        }
    }

    @Test func anEntitlementFollowsItsCausesInTheirTransactionAndThePartiesHearOfIt() async throws {
        try await withAPI { market, client in
            let store = market.store, admin = market.admin
            _ = try await store.setWebhook(party: market.demander.id, url: "https://hooks.example.com/buyer", by: admin)
            _ = try await store.setWebhook(party: market.operatorParty.id, url: "https://hooks.example.com/seller", by: admin)
            let id = try await market.entitlement()
            let token = try #require(try await Self.token(client, id, market.demanderKey).1["token"] as? String)
            func state() async throws -> String? { try await market.pool.query("SELECT state::text FROM entitlements WHERE id = \(id)").scalar(String.self) }
            func events(_ type: String) async throws -> [NotifyJob] {
                try await market.pool.query("SELECT args::text FROM pdx_jobs WHERE kind = 'notify' AND args ->> 'type' = \(type) ORDER BY id")
                    .decode(String.self).map { try JSONDecoder().decode(NotifyJob.self, from: Data($0.utf8)) }
            }
            // Its end date is scheduled as a job when it is delivered.
            #expect(try await market.pool.query("SELECT count(*) FROM pdx_jobs WHERE kind = 'expire_entitlement' AND state = 'scheduled'").scalar(Int64.self) == 1)

            try await store.changeAuthorization(market.grant, to: .suspended, reason: "security review", by: admin)
            #expect(try await state() == "suspended")
            #expect(try await Self.verify(client, token, market.operatorKey)["reason"] as? String == "entitlement_suspended")
            #expect(try await Self.token(client, id, market.demanderKey).0 == .conflict)
            let suspended = try await events("entitlement.suspended")
            #expect(Set(suspended.map(\.partyID)) == [market.demander.id, market.operatorParty.id] && suspended.allSatisfy { $0.subjectID == id })
            // What the webhook receives, built from the job the database enqueued.
            let event = try await store.webhookEvent(try #require(suspended.first))
            #expect(event.data.entitlementID == id.lowercased && event.data.state == "suspended" && event.type == "entitlement.suspended")

            try await store.changeAuthorization(market.grant, to: .active, reason: nil, by: admin)
            #expect(try await state() == "active")
            #expect(try await events("entitlement.reinstated").count == 2)
            #expect(try await Self.verify(client, token, market.operatorKey)["valid"] as? Bool == true)

            // The buyer suspended, then back; delisting the product ends nothing (its entitlements run to their end).
            _ = try await store.changeParty(market.demander.id, to: .suspended, reason: "unpaid", by: admin)
            #expect(try await state() == "suspended")
            _ = try await store.changeParty(market.demander.id, to: .active, reason: "paid", by: admin)
            #expect(try await state() == "active")
            try await store.changeProduct(market.product, to: .delisted, reason: "retired", by: .party(market.operatorParty.id))
            #expect(try await state() == "active")

            // Revocation ends it for good: reinstating nothing brings it back.
            try await store.changeAuthorization(market.grant, to: .revoked, reason: "breach", by: admin)
            #expect(try await state() == "revoked")
            #expect(try await Self.verify(client, token, market.operatorKey)["reason"] as? String == "entitlement_ended")
            #expect(try await events("entitlement.revoked").count == 2)
            let reason = try await market.pool.query("SELECT state_reason FROM entitlements WHERE id = \(id)").scalar(String.self)
            #expect(reason?.contains(market.grant.lowercased) == true && reason?.contains("revoked") == true)
        }
    }

    @Test func closingTheBuyerRevokesAndTheEndDateExpires() async throws {
        try await withAPI { market, client in
            let store = market.store
            // A short entitlement ends by its date: the job (or anyone asking) sees it.
            let order = try await market.order([.accepted])
            try await store.changeOrder(order, to: .delivered, reason: nil, entitlement: 1, by: .party(market.operatorParty.id))
            let short = try #require(try await market.pool.query("SELECT id FROM entitlements WHERE order_id = \(order)").scalar(UUID.self))
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await store.expireEntitlement(short))
            #expect(try await store.entitlement(short).state == .expired)
            #expect(try await Self.token(client, short, market.demanderKey).0 == .conflict)
            // Closing the buyer revokes what it holds.
            let id = try await market.entitlement()
            _ = try await store.changeParty(market.demander.id, to: .closed, reason: "left the market", by: market.admin)
            let closed = try await store.entitlement(id)
            #expect(closed.state == .revoked && closed.stateReason == "the buyer closed")
        }
    }

    @Test func usageIsCountedOncePerEventAndRefusedEventByEventWithAReason() async throws {
        try await withAPI { market, client in
            let id = try await market.entitlement(), entitlement = id.lowercased
            let now = Date()
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            func event(_ eventID: String, units: Int, at: Date = now, entitlement: String = entitlement) -> [String: Any] {
                ["event_id": eventID, "entitlement_id": entitlement, "units": units, "occurred_at": formatter.string(from: at)]
            }
            let batch: [[String: Any]] = [
                event("e-1", units: 5), event("e-2", units: 3), event("e-1", units: 5),
                event("e-3", units: 1, entitlement: UUID().uuidString.lowercased()),
                event("e-4", units: 1, at: now + 3600), event("e-5", units: 1, at: now - 86_400 * 30), event("e-6", units: 2000),
            ]
            let (status, receipt, _) = try await Get.post(client, "/v1/usage", market.operatorKey, ["events": batch])
            #expect(status == .ok)
            #expect(receipt["accepted"] as? Int == 2 && receipt["duplicates"] as? Int == 1)
            let refused = (receipt["refused"] as? [[String: Any]] ?? []).map { "\($0["index"] as? Int ?? -1):\($0["reason"] as? String ?? "")" }
            #expect(refused == ["3:unknown_entitlement", "4:in_future", "5:before_entitlement", "6:over_grant"])
            let standing = try #require((receipt["entitlements"] as? [[String: Any]])?.first)
            #expect(standing["units_used"] as? Int == 8 && standing["units_left"] as? Int == 992)
            // Sent again: nothing counted twice.
            let again = try await Get.post(client, "/v1/usage", market.operatorKey, ["events": batch]).1
            #expect(again["accepted"] as? Int == 0 && again["duplicates"] as? Int == 3)
            // Another seller cannot report against it, and learns nothing of it.
            let other = try await Get.post(client, "/v1/usage", market.otherOperatorKey, ["events": [event("x-1", units: 1)]]).1
            #expect((other["refused"] as? [[String: Any]])?.first?["reason"] as? String == "unknown_entitlement")
            #expect((other["entitlements"] as? [Any])?.isEmpty == true)
            // Per day, for the buyer and the seller.
            let today = CalendarDate(year: Calendar.utcForTests.component(.year, from: now), month: Calendar.utcForTests.component(.month, from: now),
                                     day: Calendar.utcForTests.component(.day, from: now))!
            let (daysStatus, days) = try await Get.get(client, "/v1/entitlements/\(entitlement)/usage?from=\(today)&to=\(today)", market.demanderKey)
            #expect(daysStatus == .ok && days["units_used"] as? Int == 8)
            #expect((days["days"] as? [[String: Any]])?.map { "\($0["day"] as? String ?? ""):\($0["units"] as? Int ?? 0)" } == ["\(today):8"])
            #expect(try await Get.get(client, "/v1/entitlements/\(entitlement)/usage?from=2026-02-30", market.demanderKey).0 == .badRequest)
            // Ended: what happened after revocation is refused, what happened before it still counts.
            let before = Date()
            try await Task.sleep(for: .milliseconds(20))
            try await market.store.changeAuthorization(market.grant, to: .revoked, reason: "breach", by: market.admin)
            let late = try await Get.post(client, "/v1/usage", market.operatorKey, ["events": [event("e-7", units: 1, at: Date() + 1), event("e-8", units: 1, at: before)]]).1
            #expect((late["refused"] as? [[String: Any]])?.map { $0["reason"] as? String } == ["entitlement_ended"])
            #expect(late["accepted"] as? Int == 1)
            // Batches: at most 10,000 events (a 10,000-event batch is larger than the 1 MiB other bodies may be); one more is
            // refused whole, naming the field.
            let many = (0..<10_000).map { event("bulk-\($0)", units: 1, entitlement: UUID().uuidString.lowercased()) }
            let (bulkStatus, bulk, _) = try await Get.post(client, "/v1/usage", market.operatorKey, ["events": many])
            #expect(bulkStatus == .ok && (bulk["refused"] as? [Any])?.count == 10_000)
            let tooMany = (0...10_000).map { UsageEvent(eventID: "m-\($0)", entitlementID: id, units: 1, occurredAt: now) }
            await #expect(throws: MarketInputError(field: "events", rule: "must hold from 1 to 10000 events")) {
                try await market.store.recordUsage(tooMany, seller: market.operatorParty.id)
            }
            #expect(try await Get.post(client, "/v1/usage", market.operatorKey, ["events": [event("zero", units: 0)]]).0 == .badRequest)
            #expect(try await Get.post(client, "/v1/usage", market.agencyKey, ["events": [event("z", units: 1)]]).0 == .forbidden)
            #expect(try await market.pool.query("SELECT units_used FROM entitlements WHERE id = \(id)").scalar(Int64.self) == 9)
        }
    }
}

extension UUID {
    var lowercased: String { uuidString.lowercased() }
}

extension Calendar {
    static let utcForTests: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}

