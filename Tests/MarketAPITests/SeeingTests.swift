import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Market
import MarketAPI
import MarketJobs
import MarketStore
import Postgres
import Testing

/// Seeing the market: the demand board per role and scope, follows and their webhook events, proposals
/// made by hand, direct purchase, re-development with lineage, funnels, and the histories.
@Suite struct SeeingTests {
    static func request(_ title: String, sector: String = "transport", scenario: String = "logistics", regions: [String] = ["310000"],
                        purpose: Purpose = .industryDevelopment, budget: Int64 = 100_000, modes: [DeliveryMode] = [.api]) throws -> DemandRequest {
        DemandRequest(title: title, sector: sector, scenario: scenario, purpose: purpose, regions: try regions.map { try RegionCode($0) },
                      fieldsWanted: ["road_id"], quantity: 1000, budgetFen: budget, deliveryModes: modes, expiresAt: Date() + 30 * 86_400)
    }

    static func get(_ client: some TestClientProtocol, _ uri: String, _ key: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        let response = try await client.checked(uri: uri, method: .get, headers: bearer(key))
        return (response.status, (try? json(response)) ?? [:])
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ key: String, _ body: [String: Any],
                     idempotencyKey: String? = nil) async throws -> (HTTPResponse.Status, [String: Any], HTTPFields) {
        var headers = bearer(key)
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        let response = try await client.checked(uri: uri, method: .post, headers: headers, body: jsonBody(body))
        return (response.status, (try? json(response)) ?? [:], response.headers)
    }

    static func ids(_ page: [String: Any]) -> [String] {
        (page["items"] as? [[String: Any]] ?? []).compactMap { ($0["demand"] as? [String: Any])?["id"] as? String }
    }

    @Test func theBoardShowsEachOperatorAndAgencyOnlyTheOpenDemandInsideItsScope() async throws {
        try await withAPI { market, client in
            let store = market.store
            func post(_ request: DemandRequest, by party: Party, open: Bool = true, show: Bool = false) async throws -> String {
                try await store.postDemand(request, demander: party.id, open: open, showIdentity: show, by: .party(party.id)).uuidString.lowercased()
            }
            // Inside the operator's grant (transport, Shanghai): shown and hidden demanders, a district inside it.
            let shown = try await post(try Self.request("冷链路径 cold chain routes"), by: market.demander, show: true)
            let hidden = try await post(try Self.request("港口集卡 port trucks", regions: ["310115"], purpose: .publicWelfare), by: market.otherDemander)
            // Outside it: another region, another sector; a draft; a cancelled demand; the operator's own demand.
            let beijing = try await post(try Self.request("北京 Beijing", regions: ["110000"]), by: market.demander)
            let finance = try await post(try Self.request("信贷 credit", sector: "finance", scenario: "credit_risk"), by: market.demander)
            let draft = try await post(try Self.request("草稿 draft"), by: market.demander, open: false)
            let cancelled = try await post(try Self.request("取消 cancelled"), by: market.demander)
            try await store.changeDemand(try #require(UUID(uuidString: cancelled)), to: .cancelled, by: .party(market.demander.id))
            let own = try await post(try Self.request("运营方自己的 its own"), by: market.operatorParty)

            let (status, board) = try await Self.get(client, "/v1/board", market.operatorKey)
            #expect(status == .ok)
            #expect(Set(Self.ids(board)) == [shown, hidden], "\(Self.ids(board))")
            for excluded in [beijing, finance, draft, cancelled, own] { #expect(!Self.ids(board).contains(excluded)) }
            // The demander's identity only where it chose to show it.
            let items = try #require(board["items"] as? [[String: Any]])
            let byID = Dictionary(uniqueKeysWithValues: items.map { (($0["demand"] as? [String: Any])?["id"] as? String ?? "", $0) })
            let demander = try #require(byID[shown]?["demander"] as? [String: Any])
            #expect(demander["name"] as? String == market.demander.name && demander["id"] as? String == market.demander.id.uuidString.lowercased())
            #expect(byID[hidden]?["demander"] == nil)
            #expect(!String(decoding: try JSONSerialization.data(withJSONObject: byID[hidden] ?? [:]), as: UTF8.self)
                .contains(market.otherDemander.id.uuidString.lowercased()))
            #expect(byID[shown]?["age_days"] as? Int == 0 && byID[shown]?["proposals"] as? Int == 0)

            // Filters and the cursor.
            // A region filter keeps the demands inside it or containing it.
            #expect(Set(Self.ids(try await Self.get(client, "/v1/board?region=310115", market.operatorKey).1)) == [shown, hidden])
            #expect(Self.ids(try await Self.get(client, "/v1/board?region=310104", market.operatorKey).1) == [shown])
            #expect(Self.ids(try await Self.get(client, "/v1/board?purpose=public_welfare", market.operatorKey).1) == [hidden])
            #expect(Self.ids(try await Self.get(client, "/v1/board?q=COLD%20CHAIN", market.operatorKey).1) == [shown])
            #expect(Self.ids(try await Self.get(client, "/v1/board?scenario=credit_risk", market.operatorKey).1).isEmpty)
            let first = try await Self.get(client, "/v1/board?limit=1", market.operatorKey).1
            let cursor = try #require(first["next"] as? String)
            let second = try await Self.get(client, "/v1/board?limit=1&after=\(cursor)", market.operatorKey).1
            #expect(Set(Self.ids(first) + Self.ids(second)) == [shown, hidden])
            let bad = try await Self.get(client, "/v1/board?region=31011", market.operatorKey)
            #expect(bad.0 == .badRequest)

            // An operator without a grant there sees nothing; neither does one whose grant is suspended.
            #expect(Self.ids(try await Self.get(client, "/v1/board", market.otherOperatorKey).1).isEmpty)
            #expect(try await Self.get(client, "/v1/board/\(shown)", market.otherOperatorKey).0 == .notFound)
            // The agency sees what lies inside its resources and grants (the operator's own demand too); another agency nothing.
            #expect(Set(Self.ids(try await Self.get(client, "/v1/board", market.agencyKey).1)) == [shown, hidden, own])
            #expect(Self.ids(try await Self.get(client, "/v1/board", market.otherAgencyKey).1).isEmpty)
            try await store.changeAuthorization(market.grant, to: .suspended, reason: "audit", by: market.admin)
            #expect(Self.ids(try await Self.get(client, "/v1/board", market.operatorKey).1).isEmpty)
        }
    }

    @Test func followersHearOfNewDemandOnTheirBoardOnce() async throws {
        try await withAPI { market, client in
            let store = market.store
            _ = try await store.setWebhook(party: market.operatorParty.id, url: "https://hooks.example.com/pdx", by: market.admin)
            _ = try await store.setWebhook(party: market.otherOperator.id, url: "https://hooks.example.com/other", by: market.admin)
            let (created, follow, _) = try await Self.post(client, "/v1/follows", market.operatorKey, ["sector": "transport", "scenario": "logistics"])
            #expect(created == .created && follow["sector"] as? String == "transport" && follow["region"] == nil)
            // Two follows the same demand meets: one event. The other operator follows too, but has no grant there.
            _ = try await Self.post(client, "/v1/follows", market.operatorKey, ["region": "310115"])
            _ = try await Self.post(client, "/v1/follows", market.otherOperatorKey, ["sector": "transport"])
            #expect(try await Self.post(client, "/v1/follows", market.operatorKey, ["sector": "teleport"]).0 == .unprocessableContent)
            #expect(try await Self.post(client, "/v1/follows", market.operatorKey, ["q": "x"]).0 == .badRequest)
            func opened(_ party: Party) async throws -> Int {
                Int(try await market.pool.query("""
                    SELECT count(*) FROM pdx_jobs WHERE kind = 'notify' AND args::text LIKE '%demand.opened%' AND args::text ILIKE '%' || \(party.id.uuidString) || '%'
                    """).scalar(Int64.self) ?? 0)
            }
            let meets = try await store.postDemand(try Self.request("集卡 trucks", regions: ["310115"]), demander: market.demander.id, open: true,
                                                   by: .party(market.demander.id))
            #expect(try await opened(market.operatorParty) == 1)
            #expect(try await opened(market.otherOperator) == 0)
            // Another scenario and outside both follows' reach: nothing.
            _ = try await store.postDemand(try Self.request("保险 insurance", scenario: "insurance", regions: ["310104"]), demander: market.demander.id, open: true,
                                           by: .party(market.demander.id))
            #expect(try await opened(market.operatorParty) == 1)
            // A draft is heard of when it opens, not before; reopening after a decline is not new.
            let draft = try await store.postDemand(try Self.request("草稿 draft"), demander: market.demander.id, open: false, by: .party(market.demander.id))
            #expect(try await opened(market.operatorParty) == 1)
            try await store.changeDemand(draft, to: .open, by: .party(market.demander.id))
            #expect(try await opened(market.operatorParty) == 2)
            // A suspended follower hears of nothing (its keys are refused too).
            try await store.changeParty(market.operatorParty.id, to: .suspended, reason: "audit", by: market.admin)
            _ = try await store.postDemand(try Self.request("暂停期间 while suspended"), demander: market.demander.id, open: true, by: .party(market.demander.id))
            #expect(try await opened(market.operatorParty) == 2)
            try await store.changeParty(market.operatorParty.id, to: .active, reason: "audit passed", by: market.admin)
            let event = try await store.webhookEvent(NotifyJob(partyID: market.operatorParty.id, type: "demand.opened", subjectID: meets, occurredAt: Date()))
            #expect(event.type == "demand.opened" && event.data.demandID == meets.uuidString.lowercased() && event.data.state == "open")
            // Unfollowing is for the follower; the list shows what is left.
            let id = try #require(follow["id"] as? String)
            let other = try await client.checked(uri: "/v1/follows/\(id)", method: .delete, headers: bearer(market.otherOperatorKey))
            #expect(other.status == .notFound)
            let removed = try await client.checked(uri: "/v1/follows/\(id)", method: .delete, headers: bearer(market.operatorKey))
            #expect(removed.status == .ok)
            let left = try await Self.get(client, "/v1/follows", market.operatorKey).1
            #expect((left["items"] as? [[String: Any]])?.map { $0["region"] as? String } == ["310115"])
            // At most 50 follows.
            for _ in 0..<49 { _ = try await store.follow(BoardQuery(sector: "energy"), operator: market.operatorParty.id, by: market.admin) }
            #expect(try await Self.post(client, "/v1/follows", market.operatorKey, ["sector": "energy"]).0 == .conflict)
        }
    }

    @Test func aProposalByHandPassesTheWorkersRulesAndIsMarked() async throws {
        try await withAPI { market, client in
            let store = market.store
            func demand(_ request: DemandRequest, by party: Party? = nil) async throws -> String {
                let party = party ?? market.demander
                return try await store.postDemand(request, demander: party.id, open: true, by: .party(party.id)).uuidString.lowercased()
            }
            func propose(_ demand: String, _ product: UUID, key: String? = nil) async throws -> (HTTPResponse.Status, [String: Any]) {
                let (status, body, _) = try await Self.post(client, "/v1/board/\(demand)/proposals", key ?? market.operatorKey,
                                                            ["product_id": product.uuidString.lowercased()])
                return (status, body)
            }
            let good = try await demand(try Self.request("路况 traffic"))
            let (status, match) = try await propose(good, market.product)
            #expect(status == .created, "\(match)")
            #expect(match["manual"] as? Bool == true && match["demand_id"] as? String == good)
            // The operator learns nothing of a demander that did not show itself.
            #expect(match["demander_id"] == nil && match["demander_name"] == nil)
            #expect(!String(decoding: try JSONSerialization.data(withJSONObject: match), as: UTF8.self).contains(market.demander.id.uuidString.lowercased()))
            // Priced and scored as the workers would: the same quote as asked directly, the same score as Matching's.
            let quote = try await store.quote(product: market.product, quantity: 1000, purpose: .industryDevelopment, buyer: market.demander.id,
                                              scenario: "logistics")
            #expect(match["quote_fen"] as? Int == Int(quote.amountFen) && (match["quote"] as? [String: Any])?["amount_fen"] as? Int == Int(quote.amountFen))
            let stored = try await store.product(market.product)
            let score = Matching.score(demand: try Self.request("路况 traffic"), product: stored.current, quote: quote)
            #expect(abs((match["score"] as? Double ?? -1) - score.total) < 1e-9)
            #expect(try await store.demandState(try #require(UUID(uuidString: good))) == .matched)
            // The demander sees it among its matches, marked.
            let listed = try await Self.get(client, "/v1/demands/\(good)/matches", market.demanderKey).1
            #expect((listed["items"] as? [[String: Any]])?.first?["manual"] as? Bool == true)
            // Not twice; nor a product the demand declined.
            #expect(try await propose(good, market.product).0 == .conflict)

            // Refused where the workers would refuse, naming the rule.
            let poor = try await propose(try await demand(try Self.request("没钱 no budget", budget: 0)), market.product)
            #expect(poor.0 == .unprocessableContent && poor.1["code"] as? String == "hard_rules_not_met"
                    && (poor.1["detail"] as? String)?.contains("budget") == true, "\(poor)")
            let files = try await propose(try await demand(try Self.request("文件 files", modes: [.file])), market.product)
            #expect(files.0 == .unprocessableContent && (files.1["detail"] as? String)?.contains("delivery mode") == true, "\(files)")
            // Outside the operator's board: not found. Another's product: not found. A draft product: a conflict.
            #expect(try await propose(try await demand(try Self.request("北京", regions: ["110000"])), market.product).0 == .notFound)
            #expect(try await propose(try await demand(try Self.request("别人的产品")), market.product, key: market.otherOperatorKey).0 == .notFound)
            #expect(try await propose(try await demand(try Self.request("草稿产品")), try await market.product(listed: false)).0 == .conflict)
            // A cancelled demand: a conflict.
            let cancelled = try await demand(try Self.request("取消"))
            try await store.changeDemand(try #require(UUID(uuidString: cancelled)), to: .cancelled, by: .party(market.demander.id))
            #expect(try await propose(cancelled, market.product).0 == .conflict)
            // Rule 4: a demander affiliated with the operator may not be offered its products.
            _ = try await store.affiliate(market.otherDemander.id, with: market.operatorParty.id, relation: .subsidiary, reason: "group", by: market.admin)
            let barred = try await propose(try await demand(try Self.request("子公司 subsidiary"), by: market.otherDemander), market.product)
            #expect(barred.0 == .unprocessableContent && barred.1["code"] as? String == "anti_monopoly", "\(barred)")
            // A suspended grant: out of scope (and the demand leaves the board).
            let late = try await demand(try Self.request("暂停 suspended"))
            try await store.changeAuthorization(market.grant, to: .suspended, reason: "audit", by: market.admin)
            #expect(try await propose(late, market.product).0 == .notFound)
            #expect(try await store.proposalsBreakingHardRules() == 0)
        }
    }

    @Test func aDirectPurchaseIsPricedLikeAMatchUnderEveryRuleAndHappensOnce() async throws {
        try await withAPI { market, client in
            let store = market.store
            let body: [String: Any] = ["product_id": market.product.uuidString.lowercased(), "quantity": 200, "purpose": "industry_development",
                                       "scenario": "logistics"]
            let (status, order, headers) = try await Self.post(client, "/v1/orders", market.demanderKey, body, idempotencyKey: "buy-1")
            #expect(status == .created, "\(order)")
            let quote = try await store.quote(product: market.product, quantity: 200, purpose: .industryDevelopment, buyer: market.demander.id,
                                              scenario: "logistics")
            #expect(order["amount_fen"] as? Int == Int(quote.amountFen) && order["direct"] as? Bool == true && order["scenario"] as? String == "logistics")
            #expect(order["quantity"] as? Int == 200 && order["purpose"] as? String == "industry_development" && order["match_id"] == nil)
            #expect(headers[.location] == "/v1/orders/\(order["id"] as? String ?? "")")
            // The same key again: the same order, not a second one.
            let (replayStatus, replay, replayHeaders) = try await Self.post(client, "/v1/orders", market.demanderKey, body, idempotencyKey: "buy-1")
            #expect(replayStatus == .created && replay["id"] as? String == order["id"] as? String, "\(replayStatus) \(replay)")
            #expect(replayHeaders[HTTPField.Name("Idempotent-Replayed")!] == "true")
            func orders() async throws -> Int64 {
                try await market.pool.query("SELECT count(*) FROM orders WHERE buyer_id = \(market.demander.id)").scalar(Int64.self) ?? -1
            }
            #expect(try await orders() == 1)
            // Without a key: refused, naming it.
            let keyless = try await Self.post(client, "/v1/orders", market.demanderKey, body)
            #expect(keyless.0 == .badRequest && keyless.1["field"] as? String == "Idempotency-Key")
            // The buyer's cap, an unknown scenario, a bad quantity: refused, nothing stored.
            var capped = body
            capped["max_amount_fen"] = Int(quote.amountFen) - 1
            let over = try await Self.post(client, "/v1/orders", market.demanderKey, capped, idempotencyKey: "buy-2")
            #expect(over.0 == .unprocessableContent && over.1["code"] as? String == "hard_rules_not_met", "\(over.1)")
            var unknown = body
            unknown["scenario"] = "teleportation"
            let strange = try await Self.post(client, "/v1/orders", market.demanderKey, unknown, idempotencyKey: "buy-3")
            #expect(strange.0 == .unprocessableContent && strange.1["code"] as? String == "unknown_value" && strange.1["field"] as? String == "scenario")
            var elsewhere = body
            elsewhere["scenario"] = "insurance"
            let unserved = try await Self.post(client, "/v1/orders", market.demanderKey, elsewhere, idempotencyKey: "buy-3b")
            #expect(unserved.0 == .unprocessableContent && unserved.1["code"] as? String == "hard_rules_not_met"
                    && (unserved.1["detail"] as? String)?.contains("logistics") == true, "\(unserved.1)")
            var zero = body
            zero["quantity"] = 0
            #expect(try await Self.post(client, "/v1/orders", market.demanderKey, zero, idempotencyKey: "buy-4").0 == .badRequest)
            #expect(try await orders() == 1)
            // Public welfare by a demander no one verified: priced, saying why.
            var welfare = body
            welfare["purpose"] = "public_welfare"
            let paid = try await Self.post(client, "/v1/orders", market.demanderKey, welfare, idempotencyKey: "buy-5")
            let lines = ((paid.1["quote"] as? [String: Any])?["lines"] as? [[String: Any]])?.compactMap { $0["step"] as? String } ?? []
            #expect(paid.0 == .created && (paid.1["amount_fen"] as? Int ?? 0) > 0 && lines.first == "public_interest_unverified", "\(paid.1)")
            // Rule 4: the operator may not buy inside its own scope, nor a party affiliated with it.
            let own = try await Self.post(client, "/v1/orders", market.operatorKey, body, idempotencyKey: "buy-6")
            #expect(own.0 == .unprocessableContent && own.1["code"] as? String == "anti_monopoly")
            _ = try await store.affiliate(market.otherDemander.id, with: market.operatorParty.id, relation: .subsidiary, reason: "group", by: market.admin)
            let affiliate = try await Self.post(client, "/v1/orders", market.otherKey, body, idempotencyKey: "buy-7")
            #expect(affiliate.0 == .unprocessableContent && affiliate.1["code"] as? String == "anti_monopoly")
            // Not for sale: a conflict.
            try await store.changeProduct(market.product, to: .delisted, reason: "retired", by: .party(market.operatorParty.id))
            let delisted = try await Self.post(client, "/v1/orders", market.demanderKey, body, idempotencyKey: "buy-8")
            #expect(delisted.0 == .conflict, "\(delisted.1)")
            #expect(try await orders() == 2)
        }
    }

    @Test func reDevelopmentListsDerivedProductsWithTheirLineageAcrossTwoGenerations() async throws {
        try await withAPI { market, client in
            let store = market.store
            func derivedBody(_ orders: [UUID], title: String, modes: [String] = ["api"]) -> [String: Any] {
                ["title": title, "sector": "transport", "regions": ["310000"], "scenarios": ["logistics"], "fields": ["origin"],
                 "delivery_modes": modes, "charge_unit": "call", "list_price_fen": 20, "source_order_ids": orders.map { $0.uuidString.lowercased() }]
            }
            // Registering needs a completed order.
            let early = try await Self.post(client, "/v1/redevelopers", market.demanderKey, [:])
            #expect(early.0 == .unprocessableContent && early.1["code"] as? String == "derivation_not_allowed")
            let order = try await market.completedOrder(of: market.demander)
            // Not registered yet: refused.
            let unregistered = try await Self.post(client, "/v1/products", market.demanderKey, derivedBody([order], title: "未注册"))
            #expect(unregistered.0 == .unprocessableContent && unregistered.1["code"] as? String == "derivation_not_allowed")
            let registered = try await Self.post(client, "/v1/redevelopers", market.demanderKey, [:])
            #expect(registered.0 == .ok && registered.1["party_id"] as? String == market.demander.id.uuidString.lowercased())
            #expect(try await Self.get(client, "/v1/me", market.demanderKey).1["redeveloper_since"] is String)
            // Another's order does not exist for it; both an authorization and sources is a mistake.
            let others = try await Self.post(client, "/v1/products", market.demanderKey,
                                             derivedBody([try await market.completedOrder(of: market.otherDemander)], title: "别人的订单"))
            #expect(others.0 == .notFound)
            var both = derivedBody([order], title: "两者")
            both["authorization_id"] = market.grant.uuidString.lowercased()
            #expect(try await Self.post(client, "/v1/products", market.demanderKey, both).0 == .badRequest)

            // First generation: the demander's derived product, listed.
            let (created, first, _) = try await Self.post(client, "/v1/products", market.demanderKey, derivedBody([order], title: "货运指数 derived"))
            #expect(created == .created, "\(first)")
            let firstID = try #require(first["id"] as? String)
            #expect(first["operator_id"] as? String == market.demander.id.uuidString.lowercased())
            #expect(try await client.checked(uri: "/v1/products/\(firstID)/list", method: .post, headers: bearer(market.demanderKey)).status == .ok)
            let catalogue = try await Self.get(client, "/v1/products?q=derived", market.otherKey).1
            #expect((catalogue["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [firstID])

            // Second generation: another demander buys the derived product, completes, re-develops it.
            let firstProduct = try #require(UUID(uuidString: firstID))
            let bought = try await store.order(product: firstProduct, quantity: 5, purpose: .industryDevelopment, buyer: market.otherDemander.id,
                                               scenario: "logistics", by: .party(market.otherDemander.id))
            for state in [OrderState.accepted, .delivered] { try await store.changeOrder(bought.id, to: state, reason: nil, by: .party(market.demander.id)) }
            // Delivered, not completed: not yet.
            _ = try await store.registerRedeveloper(market.otherDemander.id, by: .party(market.otherDemander.id))
            let notYet = try await Self.post(client, "/v1/products", market.otherKey, derivedBody([bought.id], title: "太早"))
            #expect(notYet.0 == .unprocessableContent && (notYet.1["detail"] as? String)?.contains("delivered") == true, "\(notYet.1)")
            try await store.changeOrder(bought.id, to: .completed, reason: nil, by: .party(market.otherDemander.id))
            let (again, second, _) = try await Self.post(client, "/v1/products", market.otherKey, derivedBody([bought.id], title: "二次开发 second"))
            #expect(again == .created, "\(second)")
            let secondID = try #require(second["id"] as? String)
            #expect(try await client.checked(uri: "/v1/products/\(secondID)/list", method: .post, headers: bearer(market.otherKey)).status == .ok)

            // Lineage: each product's sources, and who built on it.
            func lineage(_ id: String) async throws -> (sources: [String], derived: [String]) {
                let body = try await Self.get(client, "/v1/products/\(id)/lineage", market.agencyKey).1
                func ids(_ key: String) -> [String] { (body[key] as? [[String: Any]] ?? []).compactMap { $0["product_id"] as? String } }
                return (ids("sources"), ids("derived"))
            }
            let original = market.product.uuidString.lowercased()
            #expect(try await lineage(original) == ([], [firstID]))
            #expect(try await lineage(firstID) == ([original], [secondID]))
            #expect(try await lineage(secondID) == ([firstID], []))
            // The derived products carry the original's resources, generation after generation.
            #expect(try await store.product(try #require(UUID(uuidString: secondID))).current.sourceResourceIDs == [market.resource])

            // The original operator may not buy what was built inside its scope.
            let operatorBuys = try await Self.post(client, "/v1/orders", market.operatorKey,
                                                   ["product_id": secondID, "quantity": 1, "purpose": "industry_development", "scenario": "logistics"],
                                                   idempotencyKey: "op-1")
            #expect(operatorBuys.0 == .unprocessableContent && operatorBuys.1["code"] as? String == "anti_monopoly")
            // Nor re-develop it: a completed order of a party that then joins the operator's group cannot be re-developed.
            let sibling = try await market.completedOrder(of: market.demander)
            _ = try await store.affiliate(market.demander.id, with: market.operatorParty.id, relation: .subsidiary, reason: "acquired", by: market.admin)
            let insider = try await Self.post(client, "/v1/products", market.demanderKey, derivedBody([sibling], title: "内部 insider"))
            #expect(insider.0 == .unprocessableContent && insider.1["code"] as? String == "anti_monopoly", "\(insider.1)")
            // And the database holds the rules behind the store: a demander's product without sources is refused.
            let refused = await #expect(throws: PostgresError.self) {
                try await market.pool.withConnection { connection in
                    try await connection.transaction { connection in
                        try await connection.execute("""
                            INSERT INTO products (operator_id, operator_kind, authorization_id) VALUES (\(market.otherDemander.id), 'demander', \(market.grant))
                            """)
                    }
                }
            }
            #expect(refused?.constraint == "derivation_source")

            // Revoking the grant behind the lineage delists both generations.
            try await store.changeAuthorization(market.grant, to: .revoked, reason: "terms breached", by: market.admin)
            for id in [firstID, secondID] {
                #expect(try await store.product(try #require(UUID(uuidString: id))).state == .delisted)
            }
        }
    }

    @Test func aDerivedProductStaysWithinItsSourcesAndRestsOnEveryGrantOfItsLineage() async throws {
        try await withAPI { market, client in
            let store = market.store
            // A second source under another operator's grant.
            let otherGrant = try await store.grant(Authorization(agencyID: market.agency.id, operatorID: market.otherOperator.id, sectors: ["transport"],
                                                                 regions: [try RegionCode("310000")], scenarios: ["logistics"], mode: .multi,
                                                                 validFrom: Date() - 60, validUntil: Date() + 86_400 * 30), by: market.admin)
            let otherProduct = try await store.createProduct(try market.productVersion(title: "港口吞吐 port throughput"), operator: market.otherOperator.id,
                                                             authorization: otherGrant.id, by: .party(market.otherOperator.id))
            try await store.list(otherProduct.id, by: .party(market.otherOperator.id))
            func completed(_ product: UUID, seller: Party) async throws -> UUID {
                let order = try await store.order(product: product, quantity: 1, purpose: .industryDevelopment, buyer: market.demander.id,
                                                  scenario: "logistics", by: .party(market.demander.id))
                for state in [OrderState.accepted, .delivered] { try await store.changeOrder(order.id, to: state, reason: nil, by: .party(seller.id)) }
                try await store.changeOrder(order.id, to: .completed, reason: nil, by: .party(market.demander.id))
                return order.id
            }
            let first = try await completed(market.product, seller: market.operatorParty)
            let second = try await completed(otherProduct.id, seller: market.otherOperator)
            _ = try await store.registerRedeveloper(market.demander.id, by: .party(market.demander.id))
            func body(sector: String = "transport", regions: [String] = ["310000"], scenarios: [String] = ["logistics"]) -> [String: Any] {
                ["title": "组合 combined", "sector": sector, "regions": regions, "scenarios": scenarios, "fields": ["origin"], "delivery_modes": ["api"],
                 "charge_unit": "call", "list_price_fen": 20,
                 "source_order_ids": [first.uuidString.lowercased(), second.uuidString.lowercased()]]
            }
            // Within its sources: their sector, regions inside theirs, their scenarios.
            for (bad, word) in [(body(sector: "finance"), "sector"), (body(regions: ["110000"]), "region"), (body(scenarios: ["insurance"]), "scenario")] {
                let refused = try await Self.post(client, "/v1/products", market.demanderKey, bad)
                #expect(refused.0 == .unprocessableContent && refused.1["code"] as? String == "out_of_scope"
                        && (refused.1["detail"] as? String)?.contains(word) == true, "\(refused.1)")
            }
            // A district inside them is within.
            let (created, combined, _) = try await Self.post(client, "/v1/products", market.demanderKey, body(regions: ["310115"]))
            #expect(created == .created, "\(combined)")
            let id = try #require((combined["id"] as? String).flatMap(UUID.init(uuidString:)))
            try await store.list(id, by: .party(market.demander.id))
            #expect(try await store.product(id).current.sourceResourceIDs == [market.resource])
            func listed() async throws -> Bool { try await store.listedProduct(id) != nil }
            #expect(try await listed())
            // The second source's grant suspended: out of the catalogue, not for sale, no proposal; back when reinstated.
            try await store.changeAuthorization(otherGrant.id, to: .suspended, reason: "audit", by: market.admin)
            #expect(try await !listed())
            let buy: [String: Any] = ["product_id": id.uuidString.lowercased(), "quantity": 1, "purpose": "industry_development", "scenario": "logistics"]
            let during = try await Self.post(client, "/v1/orders", market.otherKey, buy, idempotencyKey: "lineage-1")
            #expect(during.0 == .unprocessableContent && during.1["code"] as? String == "out_of_scope", "\(during.1)")
            let demand = try await store.postDemand(try Self.request("区县 district", regions: ["310115"]), demander: market.otherDemander.id, open: true,
                                                    by: .party(market.otherDemander.id))
            let offered = try await store.matchDemand(demand)
            let proposedIDs = try await store.matches(MatchFilter(demandID: demand, limit: 100)).map(\.productID)
            #expect(!proposedIDs.contains(id), "\(offered)")
            try await store.changeAuthorization(otherGrant.id, to: .active, reason: "audit passed", by: market.admin)
            #expect(try await listed())
            #expect(try await Self.post(client, "/v1/orders", market.otherKey, buy, idempotencyKey: "lineage-2").0 == .created)
            // Revoked: delisted; and no new derived product may cite an order behind a revoked grant.
            try await store.changeAuthorization(otherGrant.id, to: .revoked, reason: "terms breached", by: market.admin)
            #expect(try await store.product(id).state == .delisted)
            let late = try await Self.post(client, "/v1/products", market.demanderKey, body())
            #expect(late.0 == .unprocessableContent && late.1["code"] as? String == "out_of_scope", "\(late.1)")
        }
    }

    @Test func aDerivedProductOfImportantDataStaysInTheSandbox() async throws {
        try await withAPI { market, client in
            let store = market.store
            let important = try await store.registerResource(NewResource(title: "企业用电 power use", sector: "transport", regionCode: "310000",
                                                                         grade: .important), agency: market.agency.id, by: market.admin)
            var sandboxed = try market.productVersion(title: "沙箱 sandbox")
            sandboxed.sourceResourceIDs = [important.id]
            sandboxed.deliveryModes = [.sandbox]
            let product = try await store.createProduct(sandboxed, operator: market.operatorParty.id, authorization: market.grant,
                                                        by: .party(market.operatorParty.id))
            try await store.list(product.id, by: .party(market.operatorParty.id))
            let order = try await store.order(product: product.id, quantity: 1, purpose: .industryDevelopment, buyer: market.demander.id,
                                              scenario: "logistics", by: .party(market.demander.id))
            for state in [OrderState.accepted, .delivered] { try await store.changeOrder(order.id, to: state, reason: nil, by: .party(market.operatorParty.id)) }
            try await store.changeOrder(order.id, to: .completed, reason: nil, by: .party(market.demander.id))
            _ = try await store.registerRedeveloper(market.demander.id, by: .party(market.demander.id))
            var body: [String: Any] = ["title": "衍生 derived", "sector": "transport", "regions": ["310000"], "scenarios": ["logistics"],
                                       "fields": ["origin"], "delivery_modes": ["api"], "charge_unit": "call", "list_price_fen": 20,
                                       "source_order_ids": [order.id.uuidString.lowercased()]]
            let open = try await Self.post(client, "/v1/products", market.demanderKey, body)
            #expect(open.0 == .unprocessableContent && open.1["code"] as? String == "grade_important_needs_sandbox", "\(open.1)")
            body["delivery_modes"] = ["sandbox"]
            let (status, created, _) = try await Self.post(client, "/v1/products", market.demanderKey, body)
            #expect(status == .created, "\(created)")
            // A revision cannot take it out of the sandbox either.
            let id = try #require(created["id"] as? String)
            #expect(try await client.checked(uri: "/v1/products/\(id)/list", method: .post, headers: bearer(market.demanderKey)).status == .ok)
            var revised = body
            revised.removeValue(forKey: "source_order_ids")
            revised["delivery_modes"] = ["sandbox", "file"]
            let out = try await client.checked(uri: "/v1/products/\(id)", method: .put, headers: bearer(market.demanderKey), body: jsonBody(revised))
            #expect(try out.status == .unprocessableContent && json(out)["code"] as? String == "grade_important_needs_sandbox")
        }
    }

    @Test func eachHistoryIsAsRecorded() async throws {
        try await withAPI { market, client in
            let store = market.store
            // A demand's stays: draft, open, matched, ordered, with the time in each.
            let demand = try await store.postDemand(try Self.request("历史 history"), demander: market.demander.id, open: false, by: .party(market.demander.id))
            try await store.changeDemand(demand, to: .open, by: .party(market.demander.id))
            let match = try #require(try await store.matchDemand(demand).proposed.first)
            let order = try await store.accept(match: match, buyer: market.demander.id, by: .party(market.demander.id))
            let history = try await Self.get(client, "/v1/demands/\(demand.uuidString.lowercased())/history", market.demanderKey).1
            let stays = try #require(history["stays"] as? [[String: Any]])
            #expect(stays.map { $0["state"] as? String } == ["draft", "open", "matched", "ordered"])
            #expect(stays.dropLast().allSatisfy { $0["left_at"] is String } && stays.last?["left_at"] == nil)
            #expect(stays.allSatisfy { ($0["seconds"] as? Double ?? -1) >= 0 })

            // An order's entitlement: from delivery, a year.
            try await store.changeOrder(order.id, to: .accepted, reason: nil, by: .party(market.operatorParty.id))
            let before = try await market.pool.query("SELECT now()").scalar(Date.self) ?? Date()
            try await store.changeOrder(order.id, to: .delivered, reason: nil, by: .party(market.operatorParty.id))
            let delivered = try await Self.get(client, "/v1/orders/\(order.id.uuidString.lowercased())", market.demanderKey).1
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            func date(_ value: Any?) -> Date? { (value as? String).flatMap { formatter.date(from: $0) ?? ISO8601DateFormatter().date(from: $0) } }
            let starts = try #require(date(delivered["entitlement_starts_at"])), ends = try #require(date(delivered["entitlement_ends_at"]))
            #expect(starts >= before - 1 && abs(ends.timeIntervalSince(starts) - 365 * 86_400) < 2, "\(delivered)")

            // An authorization's changes, with their reasons.
            let grant = try await market.authorization()
            try await store.changeAuthorization(grant, to: .suspended, reason: "季度审计 quarterly audit", by: market.admin)
            try await store.changeAuthorization(grant, to: .active, reason: "审计通过 audit passed", by: market.admin)
            try await store.changeAuthorization(grant, to: .revoked, reason: "违约 terms breached", by: market.admin)
            let authorizationHistory = try await Self.get(client, "/v1/authorizations/\(grant.uuidString.lowercased())/history", market.operatorKey).1
            let changes = try #require(authorizationHistory["changes"] as? [[String: Any]])
            #expect(changes.map { $0["to"] as? String } == ["active", "suspended", "active", "revoked"])
            #expect(changes.map { $0["reason"] as? String }.dropFirst() == ["季度审计 quarterly audit", "审计通过 audit passed", "违约 terms breached"])
            #expect(changes.first?["from"] == nil && changes.last?["from"] as? String == "active")

            // A product's versions with their prices: a decrease at once; an increase announced; a draft version kept from others.
            let product = try await market.product(listed: true)
            var cheaper = try market.productVersion()
            cheaper.listPriceFen = 20
            try await store.revise(product, with: cheaper, by: .party(market.operatorParty.id))
            var dearer = cheaper
            dearer.listPriceFen = 90
            let announced = try await store.revise(product, with: dearer, by: .party(market.operatorParty.id))
            #expect(!announced.applied)
            let versionList = try await Self.get(client, "/v1/products/\(product.uuidString.lowercased())/versions", market.demanderKey).1
            let versions = try #require(versionList["items"] as? [[String: Any]])
            #expect(versions.map { $0["list_price_fen"] as? Int } == [30, 20, 90])
            #expect(versions.map { $0["current"] as? Bool } == [false, true, false])
            #expect(versions[0]["effective_at"] is String && versions[1]["effective_at"] is String && versions[2]["effective_at"] == nil)
            #expect(date(versions[2]["announced_for"]).map { abs($0.timeIntervalSince(announced.effectiveAt)) < 1 } == true)
            let draft = try await market.product(listed: false)
            #expect(try await Self.get(client, "/v1/products/\(draft.uuidString.lowercased())/versions", market.demanderKey).0 == .notFound)
            #expect(try await Self.get(client, "/v1/products/\(draft.uuidString.lowercased())/versions", market.operatorKey).0 == .ok)
        }
    }

    @Test func agenciesRecordDeIdentificationThroughTheAPI() async throws {
        try await withAPI { market, client in
            let store = market.store
            // deidentified_at is no longer dropped in silence: an unknown field is refused, naming it.
            let silent = try await Self.post(client, "/v1/resources", market.agencyKey,
                                             ["title": "就诊 visits", "sector": "health", "region_code": "310000", "grade": "general",
                                              "personal_information": true, "deidentified_at": "2026-11-30T00:00:00Z"])
            #expect(silent.0 == .badRequest, "\(silent.1)")
            let step: [String: Any] = ["method": "删除直接标识符, k-匿名 k=20", "performed_by": "市卫健委数据处 health data office",
                                       "performed_at": "2026-11-30T08:00:00Z", "evidence": "报告 DO-2026-118"]
            let (status, resource, _) = try await Self.post(client, "/v1/resources", market.agencyKey,
                                                            ["title": "就诊 visits", "sector": "transport", "region_code": "310000", "grade": "general",
                                                             "personal_information": true, "deidentification": step])
            #expect(status == .created, "\(resource)")
            let recorded = try #require(resource["deidentification"] as? [String: Any])
            #expect(recorded["method"] as? String == step["method"] as? String && recorded["evidence"] as? String == "报告 DO-2026-118")
            #expect(resource["deidentified_at"] as? String == "2026-11-30T08:00:00Z")
            // Usable at once by a product of the operator.
            let id = try #require((resource["id"] as? String).flatMap(UUID.init(uuidString:)))
            var version = try market.productVersion(title: "就诊热力 visit heat")
            version.sourceResourceIDs = [id]
            _ = try await store.createProduct(version, operator: market.operatorParty.id, authorization: market.grant, by: .party(market.operatorParty.id))

            // A later record on a resource registered without one; refused in the future, or by another agency.
            let plain = try await store.registerResource(NewResource(title: "出行 trips", sector: "transport", regionCode: "310000", grade: .general,
                                                                     personalInformation: true), agency: market.agency.id, by: market.admin)
            let uri = "/v1/resources/\(plain.id.uuidString.lowercased())/deidentification"
            let future = try await Self.post(client, uri, market.agencyKey,
                                             ["method": "k-anonymity", "performed_by": "office", "performed_at": "2099-01-01T00:00:00Z"])
            #expect(future.0 == .badRequest && future.1["field"] as? String == "performed_at")
            #expect(try await Self.post(client, uri, market.otherAgencyKey, ["method": "k-anonymity", "performed_by": "office"]).0 == .notFound)
            let empty = try await Self.post(client, uri, market.agencyKey, ["method": " ", "performed_by": "office"])
            #expect(empty.0 == .badRequest && empty.1["field"] as? String == "method")
            let (done, after, _) = try await Self.post(client, uri, market.agencyKey, ["method": "k-anonymity, k=10", "performed_by": "office"])
            #expect(done == .ok && (after["deidentification"] as? [String: Any])?["performed_by"] as? String == "office")
            let audited = try await market.pool.query("""
                SELECT count(*) FROM audit_events WHERE action = 'resource.deidentify' AND subject_id = \(plain.id.uuidString.lowercased())
                  AND actor = \(Actor.party(market.agency.id).description)
                """).scalar(Int64.self)
            #expect(audited == 1)
        }
    }

    @Test func operatorsSeeTheirFunnelAndAgenciesTheirUnmetDemand() async throws {
        try await withAPI { market, client in
            let store = market.store
            // Two proposals of the market's product: one accepted (an order, delivered: revenue), one declined.
            let (_, accepted) = try await market.proposal()
            let order = try await store.accept(match: accepted, buyer: market.demander.id, by: .party(market.demander.id))
            try await store.changeOrder(order.id, to: .accepted, reason: nil, by: .party(market.operatorParty.id))
            let (_, declined) = try await market.proposal()
            try await store.decline(match: declined, buyer: market.demander.id, reason: "too dear", by: .party(market.demander.id))
            let insights = try await Self.get(client, "/v1/products/\(market.product.uuidString.lowercased())/insights", market.operatorKey).1
            let days = try #require(insights["days"] as? [[String: Any]])
            #expect(days.count == 30)
            let today = try #require(days.last)
            #expect(today["proposals"] as? Int == 2 && today["accepted"] as? Int == 1 && today["declined"] as? Int == 1)
            #expect(today["orders"] as? Int == 1 && today["revenue_fen"] as? Int == Int(order.amountFen))
            #expect((insights["totals"] as? [String: Any])?["orders"] as? Int == 1)
            let range = try await Self.get(client, "/v1/products/\(market.product.uuidString.lowercased())/insights?from=2026-01-01&to=2026-01-03",
                                           market.operatorKey).1
            #expect((range["days"] as? [[String: Any]])?.map { $0["day"] as? String } == ["2026-01-01", "2026-01-02", "2026-01-03"])
            let tooLong = try await Self.get(client, "/v1/products/\(market.product.uuidString.lowercased())/insights?from=2024-01-01&to=2026-01-03",
                                             market.operatorKey)
            #expect(tooLong.0 == .badRequest && tooLong.1["field"] as? String == "to")
            #expect(try await Self.get(client, "/v1/products/\(market.product.uuidString.lowercased())/insights?from=2026-02-30",
                                       market.operatorKey).0 == .badRequest)

            // Unmet demand: a demand in the agency's sector and region that nothing serves; one elsewhere.
            _ = try await store.postDemand(try Self.request("文件 files wanted", modes: [.file]), demander: market.demander.id, open: true,
                                           by: .party(market.demander.id))
            _ = try await store.postDemand(try Self.request("北京 files", regions: ["110000"], modes: [.file]), demander: market.demander.id,
                                           open: true, by: .party(market.demander.id))
            let gapPage = try await Self.get(client, "/v1/gaps", market.agencyKey).1
            let gaps = try #require(gapPage["items"] as? [[String: Any]])
            #expect(gaps.map { $0["regions"] as? [String] } == [["310000"]], "\(gaps)")
            #expect(gaps.first?["diagnosis"] as? String == "none_with_delivery_mode")
            #expect((try await Self.get(client, "/v1/gaps", market.otherAgencyKey).1["items"] as? [[String: Any]])?.isEmpty == true)
        }
    }
}
