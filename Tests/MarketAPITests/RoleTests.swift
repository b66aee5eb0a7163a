import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Market
import MarketAPI
import MarketStore
import Postgres
import Testing

/// Who calls: nobody, or one of the market's parties through its key.
enum Role: String, CaseIterable, Sendable {
    case anonymous, demander, otherDemander, `operator`, otherOperator, agency, otherAgency

    func headers(_ market: APIMarket) -> HTTPFields {
        switch self {
        case .anonymous: [.contentType: "application/json"]
        case .demander: bearer(market.demanderKey)
        case .otherDemander: bearer(market.otherKey)
        case .operator: bearer(market.operatorKey)
        case .otherOperator: bearer(market.otherOperatorKey)
        case .agency: bearer(market.agencyKey)
        case .otherAgency: bearer(market.otherAgencyKey)
        }
    }
}

/// One endpoint: how to make the objects its path names, and what each role gets, in call order. Refusals
/// come first (they change nothing), the allowed call last.
struct EndpointCase: Sendable {
    var method: HTTPRequest.Method
    var template: String
    var expected: [(Role, HTTPResponse.Status)]
    var body: (@Sendable (APIMarket, [String: String]) -> [String: Any])?
    /// The path's parameters, made fresh for this case.
    var fixture: @Sendable (APIMarket) async throws -> [String: String]
    /// Each call carries a fresh Idempotency-Key (the operation requires one).
    var idempotent: Bool

    init(_ method: HTTPRequest.Method, _ template: String, _ expected: [(Role, HTTPResponse.Status)], idempotent: Bool = false,
         body: (@Sendable (APIMarket) -> [String: Any])? = nil, fixture: @escaping @Sendable (APIMarket) async throws -> [String: String] = { _ in [:] }) {
        var adapted: (@Sendable (APIMarket, [String: String]) -> [String: Any])?
        if let body { adapted = { market, _ in body(market) } }
        self.init(method, template, expected, idempotent: idempotent, bodyOfFixture: adapted, fixture: fixture)
    }

    /// A case whose body names what its fixture made.
    init(_ method: HTTPRequest.Method, _ template: String, _ expected: [(Role, HTTPResponse.Status)], idempotent: Bool = false,
         bodyOfFixture body: (@Sendable (APIMarket, [String: String]) -> [String: Any])?,
         fixture: @escaping @Sendable (APIMarket) async throws -> [String: String]) {
        self.method = method
        self.template = template
        self.expected = expected
        self.body = body
        self.fixture = fixture
        self.idempotent = idempotent
    }
}

extension APIMarket {
    var admin: Actor { .administrator("test") }

    func demand(open: Bool) async throws -> UUID {
        try await store.postDemand(try demandRequest(), demander: demander.id, open: open, by: .party(demander.id))
    }

    func demandRequest() throws -> DemandRequest {
        DemandRequest(title: "物流路径优化", sector: "transport", scenario: "logistics", purpose: .industryDevelopment,
                      regions: [try RegionCode("310000")], fieldsWanted: ["road_id"], quantity: 1000, budgetFen: 100_000,
                      deliveryModes: [.api], expiresAt: Date() + 30 * 86_400)
    }

    /// An open demand of `demander` with the market's product proposed for it.
    func proposal() async throws -> (demand: UUID, match: UUID) {
        let demand = try await demand(open: true)
        let match = try #require(try await store.matchDemand(demand).proposed.first)
        return (demand, match)
    }

    /// An order of `demander` on the market's product, moved through `states` by its operator.
    func order(_ states: [OrderState] = []) async throws -> UUID {
        let (_, match) = try await proposal()
        let order = try await store.accept(match: match, buyer: demander.id, by: .party(demander.id))
        for state in states { try await store.changeOrder(order.id, to: state, reason: nil, by: .party(operatorParty.id)) }
        return order.id
    }

    /// The entitlement of a delivered order of `demander` on the market's product.
    func entitlement() async throws -> UUID {
        let order = try await order([.accepted, .delivered])
        return try #require(try await pool.query("SELECT id FROM entitlements WHERE order_id = \(order)").scalar(UUID.self))
    }

    /// A completed order of `buyer` on the market's product, its buyer registered as a re-developer.
    func completedOrder(of buyer: Party) async throws -> UUID {
        let demand = try await store.postDemand(try demandRequest(), demander: buyer.id, open: true, by: .party(buyer.id))
        let match = try #require(try await store.matchDemand(demand).proposed.first)
        let order = try await store.accept(match: match, buyer: buyer.id, by: .party(buyer.id))
        for state in [OrderState.accepted, .delivered] { try await store.changeOrder(order.id, to: state, reason: nil, by: .party(operatorParty.id)) }
        try await store.changeOrder(order.id, to: .completed, reason: nil, by: .party(buyer.id))
        return order.id
    }

    /// A derived product of `buyer`, built from a completed order of the market's product.
    func derivedProduct(of buyer: Party, listed: Bool = false) async throws -> UUID {
        let order = try await completedOrder(of: buyer)
        _ = try await store.registerRedeveloper(buyer.id, by: .party(buyer.id))
        var version = try productVersion(title: "货运指数 freight index (derived)")
        version.sourceResourceIDs = []
        let product = try await store.createDerivedProduct(version, seller: buyer.id, sourceOrders: [order], by: .party(buyer.id))
        if listed { try await store.list(product.id, by: .party(buyer.id)) }
        return product.id
    }

    func productVersion(title: String = "货运流向 freight flows") throws -> ProductVersion {
        ProductVersion(title: title, sector: "transport", regions: [try RegionCode("310000")], scenarios: ["logistics"],
                       fields: ["origin", "destination"], deliveryModes: [.api], chargeUnit: .call, listPriceFen: 30, sourceResourceIDs: [resource])
    }

    func product(listed: Bool) async throws -> UUID {
        let product = try await store.createProduct(try productVersion(), operator: operatorParty.id, authorization: grant, by: .party(operatorParty.id))
        if listed { try await store.list(product.id, by: .party(operatorParty.id)) }
        return product.id
    }

    func authorization(_ state: AuthorizationState = .active) async throws -> UUID {
        let granted = try await store.grant(Authorization(agencyID: agency.id, operatorID: operatorParty.id, sectors: ["transport"],
                                                          regions: [try RegionCode("310000")], scenarios: ["logistics"], mode: .multi,
                                                          validFrom: Date() - 60, validUntil: Date() + 86_400 * 30), by: admin)
        if state != .active { try await store.changeAuthorization(granted.id, to: state, reason: "test", by: admin) }
        return granted.id
    }

    func productBody() -> [String: Any] {
        ["title": "货运流向 freight flows", "sector": "transport", "regions": ["310000"], "scenarios": ["logistics"],
         "fields": ["origin", "destination"], "delivery_modes": ["api"], "charge_unit": "call", "list_price_fen": 30,
         "source_resource_ids": [resource.uuidString.lowercased()]]
    }

    func demandBody() -> [String: Any] {
        ["title": "物流路径优化 route optimisation", "sector": "transport", "scenario": "logistics", "purpose": "industry_development",
         "regions": ["310000"], "fields_wanted": ["road_id"], "quantity": 1000, "budget_fen": 100_000, "delivery_modes": ["api"],
         "expires_at": ISO8601DateFormatter().string(from: Date() + 30 * 86_400)]
    }
}

/// A valid unified social credit code no one has used yet.
func freshCreditCode() -> String {
    let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    return try! CreditCode.completing("91310000" + String((0..<9).map { _ in alphabet.randomElement()! })).value
}

/// Every endpoint of `/v1`, called by every role it concerns: the ones allowed get their answer, the
/// others a 401 (no key), 403 (a role that may not) or 404 (someone else's object, never revealed).
let endpointCases: [EndpointCase] = [
    // The catalogue: public.
    EndpointCase(.get, "/v1/products", [(.anonymous, .ok), (.demander, .ok), (.agency, .ok)]),
    EndpointCase(.get, "/v1/products/{id}", [(.anonymous, .ok), (.otherOperator, .ok), (.demander, .ok)],
                 fixture: { ["id": try await $0.product(listed: true).uuidString.lowercased()] }),
    EndpointCase(.get, "/v1/products/{id}/quote?quantity=10&purpose=industry_development",
                 [(.anonymous, .unauthorized), (.demander, .ok), (.operator, .ok), (.agency, .ok)],
                 fixture: { ["id": $0.product.uuidString.lowercased()] }),
    // Operators' products.
    EndpointCase(.post, "/v1/products", [(.anonymous, .unauthorized), (.demander, .forbidden), (.agency, .forbidden),
                                         (.otherOperator, .unprocessableContent), (.operator, .created)],
                 body: { market in market.productBody().merging(["authorization_id": market.grant.uuidString.lowercased()]) { $1 } }),
    EndpointCase(.get, "/v1/products/{id}", [(.anonymous, .notFound), (.demander, .notFound), (.otherOperator, .notFound), (.operator, .ok)],
                 fixture: { ["id": try await $0.product(listed: false).uuidString.lowercased()] }),
    EndpointCase(.put, "/v1/products/{id}", [(.anonymous, .unauthorized), (.demander, .notFound), (.otherOperator, .notFound), (.operator, .ok)],
                 body: { $0.productBody() }, fixture: { ["id": try await $0.product(listed: false).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/products/{id}/list", [(.anonymous, .unauthorized), (.demander, .notFound), (.otherOperator, .notFound),
                                                   (.agency, .notFound), (.operator, .ok)],
                 fixture: { ["id": try await $0.product(listed: false).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/products/{id}/suspend", [(.anonymous, .unauthorized), (.demander, .forbidden), (.otherOperator, .forbidden), (.operator, .ok)],
                 fixture: { ["id": try await $0.product(listed: true).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/products/{id}/delist", [(.anonymous, .unauthorized), (.agency, .forbidden), (.otherOperator, .forbidden), (.operator, .ok)],
                 fixture: { ["id": try await $0.product(listed: true).uuidString.lowercased()] }),
    // Demands.
    EndpointCase(.post, "/v1/demands", [(.anonymous, .unauthorized), (.agency, .forbidden), (.demander, .created)], body: { $0.demandBody() }),
    EndpointCase(.get, "/v1/demands", [(.anonymous, .unauthorized), (.agency, .ok), (.demander, .ok)]),
    EndpointCase(.get, "/v1/demands/{id}", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.operator, .notFound), (.agency, .notFound),
                                            (.demander, .ok)],
                 fixture: { ["id": try await $0.demand(open: false).uuidString.lowercased()] }),
    EndpointCase(.put, "/v1/demands/{id}", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.operator, .notFound), (.demander, .ok)],
                 body: { $0.demandBody() }, fixture: { ["id": try await $0.demand(open: false).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/demands/{id}/open", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.agency, .notFound), (.demander, .ok)],
                 fixture: { ["id": try await $0.demand(open: false).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/demands/{id}/cancel", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.operator, .notFound), (.demander, .ok)],
                 fixture: { ["id": try await $0.demand(open: true).uuidString.lowercased()] }),
    EndpointCase(.get, "/v1/demands/{id}/matches", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.operator, .notFound), (.demander, .ok)],
                 fixture: { ["id": try await $0.proposal().demand.uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/demands/{id}/matches/{match}/accept", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.operator, .notFound),
                                                                    (.demander, .created)],
                 fixture: { let (demand, match) = try await $0.proposal(); return ["id": demand.uuidString.lowercased(), "match": match.uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/demands/{id}/matches/{match}/decline", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.agency, .notFound),
                                                                     (.demander, .ok)],
                 fixture: { let (demand, match) = try await $0.proposal(); return ["id": demand.uuidString.lowercased(), "match": match.uuidString.lowercased()] }),
    // Orders: the buyer and the product's operator, each for its own steps.
    EndpointCase(.get, "/v1/orders", [(.anonymous, .unauthorized), (.agency, .ok), (.operator, .ok), (.demander, .ok)]),
    EndpointCase(.get, "/v1/orders/{id}", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.otherOperator, .notFound), (.agency, .notFound),
                                           (.operator, .ok), (.demander, .ok)],
                 fixture: { ["id": try await $0.order().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/orders/{id}/accept", [(.anonymous, .unauthorized), (.otherOperator, .notFound), (.demander, .forbidden), (.operator, .ok)],
                 fixture: { ["id": try await $0.order().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/orders/{id}/reject", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.demander, .forbidden), (.operator, .ok)],
                 fixture: { ["id": try await $0.order().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/orders/{id}/deliver", [(.anonymous, .unauthorized), (.agency, .notFound), (.demander, .forbidden), (.operator, .ok)],
                 fixture: { ["id": try await $0.order([.accepted]).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/orders/{id}/cancel", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.operator, .forbidden), (.demander, .ok)],
                 fixture: { ["id": try await $0.order().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/orders/{id}/complete", [(.anonymous, .unauthorized), (.otherOperator, .notFound), (.operator, .forbidden), (.demander, .ok)],
                 fixture: { ["id": try await $0.order([.accepted, .delivered]).uuidString.lowercased()] }),
    // Agencies: their resources and authorizations; operators read what they hold.
    EndpointCase(.post, "/v1/resources", [(.anonymous, .unauthorized), (.demander, .forbidden), (.operator, .forbidden), (.agency, .created)],
                 body: { _ in ["title": "公交刷卡 bus rides", "sector": "transport", "region_code": "310000", "grade": "general"] }),
    EndpointCase(.get, "/v1/resources", [(.anonymous, .unauthorized), (.otherAgency, .ok), (.agency, .ok)]),
    EndpointCase(.get, "/v1/resources/{id}", [(.anonymous, .unauthorized), (.otherAgency, .notFound), (.operator, .notFound), (.agency, .ok)],
                 fixture: { ["id": $0.resource.uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/authorizations", [(.anonymous, .unauthorized), (.operator, .forbidden), (.demander, .forbidden), (.agency, .created)],
                 body: { market in
                     ["operator_id": market.otherOperator.id.uuidString.lowercased(), "sectors": ["transport"], "regions": ["310000"], "scenarios": ["logistics"],
                      "mode": "multi", "valid_until": ISO8601DateFormatter().string(from: Date() + 86_400 * 365)]
                 }),
    EndpointCase(.get, "/v1/authorizations", [(.anonymous, .unauthorized), (.demander, .ok), (.operator, .ok), (.agency, .ok)]),
    EndpointCase(.get, "/v1/authorizations/{id}", [(.anonymous, .unauthorized), (.otherAgency, .notFound), (.otherOperator, .notFound),
                                                   (.demander, .notFound), (.operator, .ok), (.agency, .ok)],
                 fixture: { ["id": try await $0.authorization().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/authorizations/{id}/suspend", [(.anonymous, .unauthorized), (.otherAgency, .notFound), (.operator, .forbidden), (.agency, .ok)],
                 body: { _ in ["reason": "audit pending"] }, fixture: { ["id": try await $0.authorization().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/authorizations/{id}/reinstate", [(.anonymous, .unauthorized), (.otherAgency, .notFound), (.operator, .forbidden),
                                                              (.agency, .ok)],
                 fixture: { ["id": try await $0.authorization(.suspended).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/authorizations/{id}/revoke", [(.anonymous, .unauthorized), (.otherAgency, .notFound), (.operator, .forbidden), (.agency, .ok)],
                 body: { _ in ["reason": "terms breached"] }, fixture: { ["id": try await $0.authorization().uuidString.lowercased()] }),
    // Who the caller is; its key; the managed lists; joining; an agency's review of a public-interest purpose.
    EndpointCase(.get, "/v1/me", [(.anonymous, .unauthorized), (.agency, .ok), (.demander, .ok)]),
    EndpointCase(.post, "/v1/keys/rotate", [(.anonymous, .unauthorized), (.otherDemander, .created)]),
    EndpointCase(.get, "/v1/sectors", [(.anonymous, .ok), (.demander, .ok)]),
    EndpointCase(.get, "/v1/scenarios", [(.anonymous, .ok), (.operator, .ok)]),
    EndpointCase(.post, "/v1/applications", [(.anonymous, .created), (.demander, .conflict)],
                 body: { _ in
                     ["kind": "demander", "name": "申请企业", "credit_code": freshCreditCode(),
                      "region_code": "310000", "contact": ["name": "王芳", "email": "wang@example.cn"]]
                 }),
    EndpointCase(.post, "/v1/applications/{id}/claim", [(.anonymous, .notFound), (.demander, .notFound)],
                 body: { _ in ["claim_secret": "pdxclaim_wrong"] },
                 fixture: { market in
                     let (application, _) = try await market.store.submitApplication(NewApplication(
                         kind: .operator, name: "申请运营", creditCode: freshCreditCode(), regionCode: "310000",
                         contact: Contact(name: "李", email: "li@example.cn")))
                     return ["id": application.id.uuidString.lowercased()]
                 }),
    EndpointCase(.post, "/v1/demands/{id}/purpose-review", [(.anonymous, .unauthorized), (.demander, .forbidden), (.operator, .forbidden),
                                                           (.agency, .created)],
                 body: { _ in ["approve": true, "reason": "社区养老 community elderly care"] },
                 fixture: { market in
                     var request = try market.demandRequest()
                     request.purpose = .publicWelfare
                     return ["id": try await market.store.postDemand(request, demander: market.demander.id, open: true, by: .party(market.demander.id))
                         .uuidString.lowercased()]
                 }),
    // The demand board: operators and agencies, each inside its own scope.
    EndpointCase(.get, "/v1/board", [(.anonymous, .unauthorized), (.demander, .forbidden), (.otherOperator, .ok), (.agency, .ok), (.operator, .ok)]),
    // (Scope per operator is SeeingTests' business: an earlier case grants the other operator this very scope.)
    EndpointCase(.get, "/v1/board/{id}", [(.anonymous, .unauthorized), (.demander, .forbidden), (.otherAgency, .notFound), (.agency, .ok), (.operator, .ok)],
                 fixture: { ["id": try await $0.demand(open: true).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/board/{id}/proposals", [(.anonymous, .unauthorized), (.demander, .forbidden), (.agency, .forbidden),
                                                     (.otherOperator, .notFound), (.operator, .created)],
                 body: { ["product_id": $0.product.uuidString.lowercased()] },
                 fixture: { ["id": try await $0.demand(open: true).uuidString.lowercased()] }),
    EndpointCase(.get, "/v1/follows", [(.anonymous, .unauthorized), (.demander, .forbidden), (.operator, .ok)]),
    EndpointCase(.post, "/v1/follows", [(.anonymous, .unauthorized), (.agency, .forbidden), (.demander, .forbidden), (.operator, .created)],
                 body: { _ in ["sector": "transport", "scenario": "logistics"] }),
    EndpointCase(.delete, "/v1/follows/{id}", [(.anonymous, .unauthorized), (.otherOperator, .notFound), (.operator, .ok)],
                 fixture: { market in
                     ["id": try await market.store.follow(BoardQuery(sector: "transport"), operator: market.operatorParty.id, by: market.admin)
                         .id.uuidString.lowercased()]
                 }),
    EndpointCase(.get, "/v1/gaps", [(.anonymous, .unauthorized), (.demander, .forbidden), (.operator, .forbidden), (.otherAgency, .ok), (.agency, .ok)]),
    // Operators' funnels; versions and lineage of what anyone may see.
    EndpointCase(.get, "/v1/products/{id}/insights", [(.anonymous, .unauthorized), (.demander, .notFound), (.otherOperator, .notFound), (.operator, .ok)],
                 fixture: { ["id": try await $0.product(listed: true).uuidString.lowercased()] }),
    EndpointCase(.get, "/v1/products/{id}/lineage", [(.anonymous, .unauthorized), (.otherOperator, .notFound), (.operator, .ok)],
                 fixture: { ["id": try await $0.product(listed: false).uuidString.lowercased()] }),
    EndpointCase(.get, "/v1/products/{id}/versions", [(.anonymous, .unauthorized), (.demander, .ok), (.operator, .ok)],
                 fixture: { ["id": try await $0.product(listed: true).uuidString.lowercased()] }),
    // Direct purchase (an Idempotency-Key is required) and re-development.
    EndpointCase(.post, "/v1/orders", [(.anonymous, .unauthorized), (.agency, .forbidden), (.operator, .unprocessableContent), (.demander, .created)],
                 idempotent: true,
                 body: { ["product_id": $0.product.uuidString.lowercased(), "quantity": 10, "purpose": "industry_development", "scenario": "logistics"] }),
    EndpointCase(.post, "/v1/redevelopers", [(.anonymous, .unauthorized), (.agency, .forbidden), (.otherDemander, .unprocessableContent), (.demander, .ok)],
                 body: { _ in [:] },
                 fixture: { market in _ = try await market.completedOrder(of: market.demander); return [:] }),
    // Histories.
    EndpointCase(.get, "/v1/demands/{id}/history", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.operator, .notFound), (.demander, .ok)],
                 fixture: { ["id": try await $0.demand(open: true).uuidString.lowercased()] }),
    EndpointCase(.get, "/v1/authorizations/{id}/history", [(.anonymous, .unauthorized), (.otherAgency, .notFound), (.demander, .notFound),
                                                           (.operator, .ok), (.agency, .ok)],
                 fixture: { ["id": try await $0.authorization(.suspended).uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/resources/{id}/deidentification", [(.anonymous, .unauthorized), (.operator, .forbidden), (.otherAgency, .notFound),
                                                                (.agency, .ok)],
                 body: { _ in ["method": "k-匿名 k-anonymity, k=20", "performed_by": "数据安全部 data security office"] },
                 fixture: { ["id": $0.resource.uuidString.lowercased()] }),
    // Entitlements, their tokens, usage and statements.
    EndpointCase(.get, "/v1/entitlements", [(.anonymous, .unauthorized), (.agency, .ok), (.operator, .ok), (.demander, .ok)]),
    EndpointCase(.get, "/v1/entitlements/{id}", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.otherOperator, .notFound),
                                                 (.operator, .ok), (.demander, .ok)],
                 fixture: { ["id": try await $0.entitlement().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/entitlements/{id}/tokens", [(.anonymous, .unauthorized), (.operator, .notFound), (.otherDemander, .notFound),
                                                         (.demander, .created)],
                 body: { _ in ["ttl_seconds": 300] }, fixture: { ["id": try await $0.entitlement().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/entitlements/verify", [(.anonymous, .unauthorized), (.operator, .ok), (.demander, .ok)],
                 body: { _ in ["token": "not.a.token"] }),
    EndpointCase(.get, "/v1/entitlements/{id}/usage", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.agency, .notFound),
                                                       (.operator, .ok), (.demander, .ok)],
                 fixture: { ["id": try await $0.entitlement().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/usage", [(.anonymous, .unauthorized), (.agency, .forbidden), (.operator, .ok)],
                 body: { _ in ["events": [["event_id": "e-1", "entitlement_id": UUID().uuidString.lowercased(), "units": 1,
                                           "occurred_at": ISO8601DateFormatter().string(from: Date())]]] }),
    EndpointCase(.get, "/v1/statements?period=2026-11", [(.anonymous, .unauthorized), (.agency, .ok), (.operator, .ok), (.demander, .ok)]),
    // The sandbox: anyone may read what a dataset allows; analyses are their buyer's, operator's and agency's.
    EndpointCase(.get, "/v1/products/{id}/sandbox", [(.anonymous, .unauthorized), (.otherDemander, .ok), (.operator, .ok)],
                 fixture: { ["id": try await $0.sandboxProduct().uuidString.lowercased()] }),
    EndpointCase(.post, "/v1/sandbox/analyses", [(.anonymous, .unauthorized), (.otherDemander, .conflict), (.agency, .conflict), (.demander, .accepted)],
                 bodyOfFixture: { _, made in ["product_id": made["product"] ?? "", "measures": [["statistic": "count_entities"]]] },
                 fixture: { market in
                     let product = try await market.sandboxProduct()
                     _ = try await market.entitlement(to: product, buyer: market.demander)
                     return ["product": product.uuidString.lowercased()]
                 }),
    EndpointCase(.get, "/v1/sandbox/analyses", [(.anonymous, .unauthorized), (.agency, .ok), (.operator, .ok), (.demander, .ok)]),
    EndpointCase(.get, "/v1/sandbox/analyses/{id}", [(.anonymous, .unauthorized), (.otherDemander, .notFound), (.otherOperator, .notFound),
                                                     (.otherAgency, .notFound), (.agency, .ok), (.operator, .ok), (.demander, .ok)],
                 fixture: { market in
                     let product = try await market.sandboxProduct()
                     _ = try await market.entitlement(to: product, buyer: market.demander)
                     let analysis = try await market.store.submitSandboxAnalysis(
                         product: product, entitlement: nil, spec: SandboxAnalysisSpec(measures: [.init(statistic: .countEntities)]), buyer: market.demander.id)
                     return ["id": analysis.id.uuidString.lowercased()]
                 }),
    // Every party's own webhook.
    EndpointCase(.get, "/v1/webhook", [(.anonymous, .unauthorized), (.agency, .ok), (.demander, .ok)]),
    EndpointCase(.post, "/v1/webhook", [(.anonymous, .unauthorized), (.operator, .ok)], body: { _ in ["url": "https://hooks.example.com/pdx"] }),
    EndpointCase(.post, "/v1/webhook/rotate", [(.anonymous, .unauthorized), (.otherDemander, .conflict), (.demander, .ok)],
                 fixture: { market in
                     _ = try await market.store.setWebhook(party: market.demander.id, url: "https://hooks.example.com/a", by: market.admin)
                     return [:]
                 }),
]

@Suite struct RoleTests {
    @Test func everyEndpointAnswersEachRoleAsItsRulesSay() async throws {
        try await withAPI { market, client in
            for endpoint in endpointCases {
                var uri = endpoint.template
                let made = try await endpoint.fixture(market)
                for (name, value) in made { uri = uri.replacingOccurrences(of: "{\(name)}", with: value) }
                let body = try endpoint.body.map { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: $0(market, made))) }
                for (role, status) in endpoint.expected {
                    var headers = role.headers(market)
                    if endpoint.idempotent { headers[HTTPField.Name("Idempotency-Key")!] = UUID().uuidString }
                    let response = try await client.checked(uri: uri, method: endpoint.method, headers: headers, body: body)
                    #expect(response.status == status, "\(endpoint.method) \(endpoint.template) as \(role): \(String(buffer: response.body))")
                }
            }
        }
    }

    @Test func theCasesCoverEveryOperationOfTheContract() {
        let covered = Set(endpointCases.map { "\($0.method.rawValue) \($0.template.split(separator: "?")[0])" })
        let documented = Set(contract.operations.filter { $0.path.hasPrefix("/v1/") }.map { "\($0.method) \($0.path)" })
        #expect(documented.subtracting(covered).isEmpty, "operations without a role test: \(documented.subtracting(covered).sorted())")
        #expect(covered.subtracting(documented).isEmpty, "tested but not documented: \(covered.subtracting(documented).sorted())")
    }
}
