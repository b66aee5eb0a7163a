public import Foundation
public import Hummingbird
import HTTPTypes
public import Logging
public import Market
public import MarketStore
import Migrations
import Postgres

/// The request context of the API: Hummingbird's core, and the party the request's API key belongs to.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `Authenticate` from `Authorization: Bearer <key>`.
    public var party: Party?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Requests above 1 MiB are refused with 413.
    public var maxUploadSize: Int { 1 << 20 }

    public var requestDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    public var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    /// Runs a POST for the caller's party: decodes the body, runs `action` and answers `status` with its
    /// result as JSON. With an `Idempotency-Key` header the action runs at most once per key: a retry with
    /// the same body gets the first response again (`Idempotent-Replayed: true`), the same key with
    /// another body is a 422, and a retry while the first is still running a 409.
    func post<Input: Decodable, Output: Encodable>(
        _ request: Request, as input: Input.Type, status: HTTPResponse.Status = .created, store: MarketStore,
        location: @escaping (Output) -> String? = { _ in nil }, _ action: (Input, Party) async throws -> Output
    ) async throws -> Response {
        let party = try requireParty()
        let body = Data(try await request.body.collect(upTo: maxUploadSize).readableBytesView)
        func run() async throws -> (HTTPFields, Data) {
            // An action without parameters may be posted with no body at all.
            let output = try await action(try requestDecoder.decode(Input.self, from: body.isEmpty ? Data("{}".utf8) : body), party)
            var headers: HTTPFields = [.contentType: "application/json"]
            if let location = location(output) { headers[.location] = location }
            return (headers, try responseEncoder.encode(output))
        }
        func response(_ status: HTTPResponse.Status, _ headers: HTTPFields, _ body: Data) -> Response {
            Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        guard let key = request.headers[HTTPField.Name("Idempotency-Key")!] else {
            let (headers, data) = try await run()
            return response(status, headers, data)
        }
        switch try await store.beginIdempotent(party: party.id, key: key, method: request.method.rawValue, path: request.uri.path, body: body) {
        case .replay(let stored, let storedHeaders, let data):
            var headers = HTTPFields()
            for (name, value) in storedHeaders { if let field = HTTPField.Name(name) { headers[field] = value } }
            headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return response(HTTPResponse.Status(code: stored), headers, data)
        case .mismatch:
            throw Problem(.unprocessableContent, code: "idempotency_key_reused", detail: "this Idempotency-Key was used with another request",
                          field: "Idempotency-Key")
        case .inProgress:
            throw Problem(.conflict, code: "idempotency_key_in_use", detail: "a request with this Idempotency-Key is still running; retry later")
        case .proceed:
            do {
                let (headers, data) = try await run()
                var kept: [String: String] = [:]
                for field in headers { kept[field.name.canonicalName] = field.value }
                try await store.finishIdempotent(party: party.id, key: key, status: Int(status.code), headers: kept, body: data)
                return response(status, headers, data)
            } catch {
                try? await store.abandonIdempotent(party: party.id, key: key)
                throw error
            }
        }
    }

    /// The demand named by the path's `id`, if it is the caller's (anyone else's is a 404).
    func ownDemand(_ store: MarketStore) async throws -> StoredDemand {
        let party = try requireParty()
        let id = try parameters.require("id", as: UUID.self)
        let demand = try await store.demand(id)
        guard demand.demanderID == party.id else { throw MarketNotFound("demand", id) }
        return demand
    }

    /// The match named by the path's `match`, if it belongs to the caller's demand named by `id`.
    func ownMatch(_ store: MarketStore) async throws -> UUID {
        let demand = try await ownDemand(store)
        let id = try parameters.require("match", as: UUID.self)
        guard try await store.matches(MatchFilter(demandID: demand.id, limit: MatchFilter.maximumLimit)).contains(where: { $0.id == id }) else {
            throw MarketNotFound("match", id)
        }
        return id
    }

    /// The order named by the path's `id` with its seller, if the caller is its buyer or seller (else a 404).
    func ownOrder(_ store: MarketStore) async throws -> (order: StoredOrder, seller: UUID) {
        let party = try requireParty()
        let id = try parameters.require("id", as: UUID.self)
        let order = try await store.order(id)
        let seller = try await store.seller(of: order)
        guard order.buyerID == party.id || seller == party.id else { throw MarketNotFound("order", id) }
        return (order, seller)
    }

    /// The caller's party, or 401.
    func requireParty() throws -> Party {
        guard let party else { throw Problem.unauthorized }
        return party
    }
}

/// The HTTP JSON API (`pdx serve`): a Hummingbird router over the market store.
public enum MarketAPI {
    /// The routes: `/healthz`, `/readyz`, and `/v1`.
    public static func router(store: MarketStore) -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.middlewares.add(ProblemMiddleware())
        router.middlewares.add(Authenticate(store: store))

        router.get("/healthz") { _, _ in Status(status: "ok") }
        router.get("/readyz") { _, _ -> Response in
            do {
                let current = try await store.pool.withConnection { connection in
                    try await Migrator.embedded().status(on: connection).allSatisfy { if case .applied = $0.state { true } else { false } }
                }
                guard current else { throw Problem.unavailable("the database's migrations are not current; run pdx migrate") }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: #"{"status":"ready"}"#)))
            } catch let problem as Problem {
                throw problem
            } catch {
                throw Problem.unavailable("the database is unreachable")
            }
        }

        let v1 = router.group("v1")
        v1.get("products/:id") { _, context -> ProductBody in
            let id = try context.parameters.require("id", as: UUID.self)
            let product = try await store.product(id)
            guard product.state == .listed else { throw MarketNotFound("product", id) }
            return ProductBody(product)
        }
        v1.post("products") { request, context -> Response in
            try await context.post(request, as: NewProductBody.self, store: store,
                                   location: { (product: ProductBody) in "/v1/products/\(product.id.uuidString.lowercased())" }) { body, party in
                guard party.kind == .operator else { throw Problem.forbidden("only operators create products") }
                return ProductBody(try await store.createProduct(try body.version(), operator: party.id, authorization: body.authorizationId,
                                                                 by: .party(party.id)))
            }
        }
        // The operator's own products through their life cycle: list (publish), suspend, delist.
        for (action, next) in [("list", ProductState.listed), ("suspend", .suspended), ("delist", .delisted)] {
            v1.post("products/:id/\(action)") { request, context -> Response in
                try await context.post(request, as: Reason.self, status: .ok, store: store) { body, party in
                    let id = try context.parameters.require("id", as: UUID.self)
                    let product = try await store.product(id)
                    guard product.operatorID == party.id else {
                        // A listed product is public: changing it is forbidden; anyone else's draft does not exist.
                        if product.state == .listed || product.state == .suspended { throw Problem.forbidden("only its operator changes a product") }
                        throw MarketNotFound("product", id)
                    }
                    if next == .listed { try await store.list(id, by: .party(party.id)) } else {
                        try await store.changeProduct(id, to: next, reason: body.reason, by: .party(party.id))
                    }
                    return ProductBody(try await store.product(id))
                }
            }
        }
        v1.get("products/:id/quote") { request, context -> JSONBody<Quote> in
            let party = try context.requireParty()
            let id = try context.parameters.require("id", as: UUID.self)
            guard let quantity = request.uri.queryParameters["quantity"].flatMap({ Int64($0) }), quantity >= 1 else {
                throw MarketInputError(field: "quantity", rule: "must be a whole number of at least 1")
            }
            guard let purpose = request.uri.queryParameters["purpose"].flatMap({ Purpose(rawValue: String($0)) }) else {
                throw MarketInputError(field: "purpose", rule: "must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard try await store.product(id).state == .listed else { throw MarketNotFound("product", id) }
            return JSONBody(try await store.quote(product: id, quantity: quantity, purpose: purpose, buyer: party.id,
                                                  scenario: request.uri.queryParameters["scenario"].map(String.init)))
        }
        v1.post("demands") { request, context -> Response in
            try await context.post(request, as: NewDemandBody.self, store: store, location: { (demand: DemandBody) in "/v1/demands/\(demand.id.uuidString.lowercased())" }) { body, party in
                guard party.kind == .demander || party.kind == .operator else {
                    throw Problem.forbidden("only demanders and operators post demands")
                }
                let id = try await store.postDemand(try body.request(), demander: party.id, open: body.open ?? false, by: .party(party.id))
                return DemandBody(try await store.demand(id))
            }
        }
        v1.get("demands") { request, context -> Page<DemandBody> in
            let party = try context.requireParty()
            let (after, limit) = try page(request)
            let demands = try await store.demands(of: party.id, after: after, limit: limit)
            return Page(items: demands.map(DemandBody.init), next: demands.count == limit ? demands.last?.id.uuidString.lowercased() : nil)
        }
        v1.get("demands/:id") { _, context -> DemandBody in
            let party = try context.requireParty()
            let id = try context.parameters.require("id", as: UUID.self)
            let demand = try await store.demand(id)
            // Someone else's demand does not exist, as far as the caller can tell.
            guard demand.demanderID == party.id else { throw MarketNotFound("demand", id) }
            return DemandBody(demand)
        }
        v1.get("demands/:id/matches") { _, context -> Page<MatchSummary> in
            let demand = try await context.ownDemand(store)
            return Page(items: try await store.matches(MatchFilter(demandID: demand.id, limit: MatchFilter.maximumLimit)), next: nil)
        }
        v1.post("demands/:id/open") { request, context -> Response in
            try await context.post(request, as: Reason.self, status: .ok, store: store) { _, party in
                let demand = try await context.ownDemand(store)
                try await store.changeDemand(demand.id, to: .open, by: .party(party.id))
                return DemandBody(try await store.demand(demand.id))
            }
        }
        v1.post("demands/:id/cancel") { request, context -> Response in
            try await context.post(request, as: Reason.self, status: .ok, store: store) { body, party in
                let demand = try await context.ownDemand(store)
                try await store.changeDemand(demand.id, to: .cancelled, by: .party(party.id), reason: body.reason)
                return DemandBody(try await store.demand(demand.id))
            }
        }
        v1.post("demands/:id/matches/:match/accept") { request, context -> Response in
            try await context.post(request, as: Reason.self, store: store, location: { (order: OrderBody) in "/v1/orders/\(order.id.uuidString.lowercased())" }) { _, party in
                let match = try await context.ownMatch(store)
                return OrderBody(try await store.accept(match: match, buyer: party.id, by: .party(party.id)))
            }
        }
        v1.post("demands/:id/matches/:match/decline") { request, context -> Response in
            try await context.post(request, as: Reason.self, status: .ok, store: store) { body, party in
                let match = try await context.ownMatch(store)
                try await store.decline(match: match, buyer: party.id, reason: body.reason, by: .party(party.id))
                return Status(status: "declined")
            }
        }
        v1.get("orders") { request, context -> Page<OrderBody> in
            let party = try context.requireParty()
            let (after, limit) = try page(request)
            let orders = try await store.orders(of: party.id, after: after, limit: limit)
            return Page(items: orders.map(OrderBody.init), next: orders.count == limit ? orders.last?.id.uuidString.lowercased() : nil)
        }
        v1.get("orders/:id") { _, context -> OrderBody in
            OrderBody(try await context.ownOrder(store).order)
        }
        // Who may move an order: its product's operator accepts, rejects and delivers; its buyer cancels and
        // confirms completion.
        let moves: [(String, OrderState, Bool)] = [
            ("accept", .accepted, true), ("reject", .rejected, true), ("deliver", .delivered, true),
            ("cancel", .cancelled, false), ("complete", .completed, false),
        ]
        for (action, next, bySeller) in moves {
            v1.post("orders/:id/\(action)") { request, context -> Response in
                try await context.post(request, as: Reason.self, status: .ok, store: store) { body, party in
                    let (order, seller) = try await context.ownOrder(store)
                    guard (bySeller ? seller : order.buyerID) == party.id else {
                        throw Problem.forbidden(bySeller ? "only the product's operator may \(action) an order" : "only the buyer may \(action) an order")
                    }
                    try await store.changeOrder(order.id, to: next, reason: body.reason, by: .party(party.id))
                    return OrderBody(try await store.order(order.id))
                }
            }
        }
        return router
    }

    /// The application listening on `host:port`.
    public static func application(store: MarketStore, host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        Application(router: router(store: store), configuration: .init(address: .hostname(host, port: port), serverName: "pdx"),
                    logger: logger)
    }
}

struct Status: ResponseEncodable {
    var status: String
}

/// A list and the cursor for the next part (nil at the end).
struct Page<Item: Encodable & Sendable>: ResponseEncodable {
    var items: [Item]
    var next: String?
}

/// Reads `Authorization: Bearer <key>` into the context's party. A key that is present but unknown,
/// malformed or revoked is refused at once with 401; routes that need a party refuse its absence.
struct Authenticate: RouterMiddleware {
    let store: MarketStore

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        guard header.hasPrefix("Bearer "), let party = try await store.authenticate(apiKey: String(header.dropFirst(7))) else {
            throw Problem.unauthorized
        }
        var context = context
        context.party = party
        context.logger[metadataKey: "party.id"] = "\(party.id)"
        return try await next(request, context)
    }
}

/// `?after=<cursor>&limit=<n>` (default 50).
func page(_ request: Request) throws -> (after: UUID?, limit: Int) {
    let limit = try request.uri.queryParameters["limit"].map { text -> Int in
        guard let value = Int(text) else { throw MarketInputError(field: "limit", rule: "must be a whole number") }
        return value
    } ?? 50
    let after = try request.uri.queryParameters["after"].map { text -> UUID in
        guard let value = UUID(uuidString: String(text)) else { throw MarketInputError(field: "after", rule: "must be a cursor from next") }
        return value
    }
    return (after, limit)
}
