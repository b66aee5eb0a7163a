public import Foundation
public import Hummingbird
import HTTPTypes
public import Logging
public import Market
public import MarketStore
import Migrations
import Postgres
public import Prometheus

/// The request context of the API: Hummingbird's core, and the party the request's API key belongs to.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `Authenticate` from `Authorization: Bearer <key>`.
    public var party: Party?
    /// The client's IP address, which rate-limits requests without a key.
    public let clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Requests above 1 MiB are refused with 413.
    public var maxUploadSize: Int { 1 << 20 }

    public var requestDecoder: JSONDecoder { RequestBody.decoder }

    public var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    /// Answers a POST for the caller's party: decodes the body (`RequestBody.decodePosted`), runs `action`, and answers `status` with its result as JSON. `RequestTransaction` runs
    /// all of it in the request's transaction, and keeps its Idempotency-Key.
    func post<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ request: Request, as input: Input.Type, status: HTTPResponse.Status = .created,
        location: (Output) -> String? = { _ in nil }, _ action: (Input, Party) async throws -> Output
    ) async throws -> Response {
        let party = try requireParty()
        let body = Data(try await request.body.collect(upTo: maxUploadSize).readableBytesView)
        let output = try await action(try RequestBody.decodePosted(Input.self, from: body), party)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let location = location(output) { headers[.location] = location }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try responseEncoder.encode(output))))
    }

    /// Answers a PUT for the caller's party: the body decoded, `action` run, its result as JSON (200), all in
    /// the request's transaction (`RequestTransaction`).
    func put<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ request: Request, as input: Input.Type, _ action: (Input, Party) async throws -> Output
    ) async throws -> Response {
        try await post(request, as: input, status: .ok, action)
    }

    /// The path parameter `name` as a UUID, or a 400 naming it.
    func id(_ name: String) throws -> UUID {
        guard let text = parameters.get(name), let id = UUID(uuidString: text) else {
            throw MarketInputError(field: name, rule: "must be a UUID")
        }
        return id
    }

    /// The demand named by the path's `id`, if it is the caller's (anyone else's is a 404).
    func ownDemand(_ store: MarketStore) async throws -> StoredDemand {
        let party = try requireParty()
        let id = try id("id")
        let demand = try await store.demand(id)
        guard demand.demanderID == party.id else { throw MarketNotFound("demand", id) }
        return demand
    }

    /// The match named by the path's `match`, if it belongs to the caller's demand named by `id`.
    func ownMatch(_ store: MarketStore) async throws -> UUID {
        let match = try id("match")
        let demand = try await ownDemand(store)
        guard try await store.matches(MatchFilter(demandID: demand.id, limit: MatchFilter.maximumLimit)).contains(where: { $0.id == match }) else {
            throw MarketNotFound("match", match)
        }
        return match
    }

    /// The order named by the path's `id` with its seller, if the caller is its buyer or seller (else a 404).
    func ownOrder(_ store: MarketStore) async throws -> (order: StoredOrder, seller: UUID) {
        let party = try requireParty()
        let id = try id("id")
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

/// What a deployment decides about the API.
public struct APIConfiguration: Sendable {
    /// Requests a second each API key may make on average, with bursts up to `burst`; nil: no limit.
    public var rateLimit: RateLimit?
    /// Where webhooks may point: https and public addresses only, unless in development.
    public var webhooks: WebhookPolicy
    /// Where `/metrics` reads from; nil: `/metrics` answers 404.
    public var metrics: PrometheusCollectorRegistry?
    /// Listed products kept in memory (run it as a service beside the application); nil: every read goes
    /// to the database.
    public var catalogueCache: CatalogueCache?

    public init(rateLimit: RateLimit? = RateLimit(perSecond: 100, burst: 200), webhooks: WebhookPolicy = WebhookPolicy(),
                metrics: PrometheusCollectorRegistry? = nil, catalogueCache: CatalogueCache? = nil) {
        self.rateLimit = rateLimit
        self.webhooks = webhooks
        self.metrics = metrics
        self.catalogueCache = catalogueCache
    }
}

/// The HTTP JSON API (`pdx serve`): a Hummingbird router over the market store.
public enum MarketAPI {
    /// The routes: `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml`, `/openapi.json` and `/v1`.
    public static func router(store: MarketStore, configuration: APIConfiguration = .init()) -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.middlewares.add(MetricsMiddleware())
        router.middlewares.add(ProblemMiddleware())
        router.middlewares.add(Authenticate(store: store, limiter: configuration.rateLimit.map(RateLimiter.init)))
        router.middlewares.add(QueryTextCheck())

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
        router.get("/metrics") { _, _ -> Response in
            guard let registry = configuration.metrics else { throw Problem(.notFound, code: "not_found", detail: "metrics are not enabled") }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("/openapi.yaml") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: openAPIYAML)))
        }
        router.get("/openapi.json") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: openAPIJSON)))
        }

        let v1 = router.group("v1")
        v1.add(middleware: RequestTransaction(store: store, webhooks: configuration.webhooks))
        addProductRoutes(v1, store: store, cache: configuration.catalogueCache)
        addDemandRoutes(v1, store: store)
        addOrderRoutes(v1, store: store)
        addAgencyRoutes(v1, store: store)
        addWebhookRoutes(v1, store: store, policy: configuration.webhooks)
        return router
    }

    /// The application listening on `host:port`. `onListening` runs once the server accepts connections,
    /// with the port it listens on (the one asked for, or the one the system chose for port 0).
    public static func application(store: MarketStore, configuration: APIConfiguration = .init(), host: String, port: Int,
                                   logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(store: store, configuration: configuration),
                    configuration: .init(address: .hostname(host, port: port), serverName: "pdx"),
                    onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
    }
}

struct Status: ResponseEncodable {
    var status: String
}

/// A list and the cursor for the next part (nil at the end).
struct Page<Item: Encodable & Sendable>: ResponseEncodable {
    var items: [Item]
    var next: String?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(next, forKey: .next)  // null at the end, never missing
    }

    enum CodingKeys: CodingKey { case items, next }

    init(items: [Item], next: String?) {
        self.items = items
        self.next = next
    }

    /// A page of `limit` asked: a full page may have more after its last item.
    init(_ items: [Item], limit: Int, id: (Item) -> UUID) {
        self.items = items
        next = items.count == limit ? items.last.map { id($0).uuidString.lowercased() } : nil
    }
}

/// Reads `Authorization: Bearer <key>` into the context's party. A key that is present but unknown,
/// malformed or revoked is refused at once with 401; routes that need a party refuse its absence.
/// A key over its rate limit is refused with 429 and `Retry-After`; requests without a key (the public
/// catalogue) are limited the same way per client address.
struct Authenticate: RouterMiddleware {
    let store: MarketStore
    let limiter: RateLimiter?

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        // Probes, metrics and the contract answer everyone, however often they are asked.
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            try limit("address \(context.clientAddress ?? "unknown")", "requests without an API key from this address")
            return try await next(request, context)
        }
        guard header.hasPrefix("Bearer "), let party = try await store.authenticate(apiKey: String(header.dropFirst(7))) else {
            throw Problem.unauthorized
        }
        // Counted by the key's public prefix (`pdx_<12 hex>`): the secret part is not kept.
        try limit(String(header.dropFirst(7).prefix(16)), "this API key")
        var context = context
        context.party = party
        context.logger[metadataKey: "party.id"] = "\(party.id)"
        return try await next(request, context)
    }

    private func limit(_ key: String, _ who: String) throws {
        guard let limiter, let wait = limiter.take(key) else { return }
        var problem = Problem(.tooManyRequests, code: "rate_limited",
                              detail: "\(who) exceeded \(limiter.limit.perSecond.formatted()) requests a second; retry later")
        problem.headers[.retryAfter] = String(Int(wait.rounded(.up)))
        throw problem
    }
}

/// `?after=<cursor>&limit=<n>` (default 50, at most 200).
func page(_ request: Request) throws -> (after: UUID?, limit: Int) {
    let limit = try request.uri.queryParameters["limit"].map { text -> Int in
        guard let value = Int(text), (1...200).contains(value) else { throw MarketInputError(field: "limit", rule: "must be a whole number from 1 to 200") }
        return value
    } ?? 50
    let after = try request.uri.queryParameters["after"].map { text -> UUID in
        guard let value = UUID(uuidString: String(text)) else { throw MarketInputError(field: "after", rule: "must be a cursor from next") }
        return value
    }
    return (after, limit)
}
