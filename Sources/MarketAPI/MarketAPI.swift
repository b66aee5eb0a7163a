import Crypto
import Foundation
public import Hummingbird
import HTTPTypes
public import Logging
public import Market
public import MarketConsole
public import MarketStore
import OpenAPIHummingbird
import OpenAPIRuntime
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

    /// Requests above 4 MiB are refused with 413 (and above 1 MiB, but for usage batches: RequestTransaction).
    public var maxUploadSize: Int { 4 << 20 }
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
    /// API keys, signing keys and entitlements kept in memory (run it as a service beside the application);
    /// nil: every check reads the database.
    public var accessCache: AccessCache?
    /// Applications (`POST /v1/applications`, no key) each client address may send, on top of `rateLimit`:
    /// by default a burst of 10, then one a minute; nil: no such limit.
    public var applicationRateLimit: RateLimit?
    /// The console under `/console`; nil: none.
    public var console: ConsoleConfiguration?
    /// Counts product page reads for operators' views (run it as a service beside the application); nil: not counted.
    public var productViews: ProductViews?

    public init(rateLimit: RateLimit? = RateLimit(perSecond: 100, burst: 200), webhooks: WebhookPolicy = WebhookPolicy(),
                metrics: PrometheusCollectorRegistry? = nil, catalogueCache: CatalogueCache? = nil, accessCache: AccessCache? = nil,
                applicationRateLimit: RateLimit? = RateLimit(perSecond: 1.0 / 60, burst: 10), console: ConsoleConfiguration? = ConsoleConfiguration(),
                productViews: ProductViews? = nil) {
        self.rateLimit = rateLimit
        self.console = console
        self.productViews = productViews
        self.applicationRateLimit = applicationRateLimit
        self.webhooks = webhooks
        self.metrics = metrics
        self.catalogueCache = catalogueCache
        self.accessCache = accessCache
    }
}

/// The HTTP JSON API (`pdx serve`): a Hummingbird router over the market store.
public enum MarketAPI {
    /// The routes: the contract's operations (`openapi.yaml`) through the generated server, behind the
    /// middleware every request passes.
    public static func router(store: MarketStore, configuration: APIConfiguration = .init()) throws -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.middlewares.add(MetricsMiddleware())
        router.middlewares.add(ProblemMiddleware())
        router.middlewares.add(ServedContract())
        router.middlewares.add(PlainLocation())
        router.middlewares.add(Authenticate(store: store, limiter: configuration.rateLimit.map(RateLimiter.init),
                                            applications: configuration.applicationRateLimit.map(RateLimiter.init), access: configuration.accessCache))
        router.middlewares.add(QueryTextCheck())
        if let views = configuration.productViews { router.middlewares.add(CountProductViews(views: views)) }
        if let cache = configuration.catalogueCache { router.middlewares.add(CachedCatalogueReads(cache: cache)) }
        if let cache = configuration.accessCache { router.middlewares.add(CachedTokenChecks(cache: cache, store: store)) }
        router.middlewares.add(RequestTransaction(store: store, webhooks: configuration.webhooks))
        try Handlers(store: store, configuration: configuration).registerHandlers(on: router, configuration: coding)
        if let console = configuration.console { Console.addRoutes(to: router, store: store, configuration: console) }
        return router
    }

    /// How the generated server reads and writes JSON: strict times, keys sorted, nothing indented.
    static let coding = OpenAPIRuntime.Configuration(dateTranscoder: StrictDates(), jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes])

    /// A JSON encoder that writes what the generated server writes (the runtime's `Converter` sets its
    /// encoder up from `coding` the same way), for the bytes the catalogue cache keeps.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(try coding.dateTranscoder.encode(date))
        }
        return encoder
    }

    /// The application listening on `host:port`. `onListening` runs once the server accepts connections,
    /// with the port it listens on (the one asked for, or the one the system chose for port 0).
    public static func application(store: MarketStore, configuration: APIConfiguration = .init(), host: String, port: Int,
                                   logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        Application(router: try router(store: store, configuration: configuration),
                    configuration: .init(address: .hostname(host, port: port), serverName: "pdx"),
                    onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
    }
}

/// Reads `Authorization: Bearer <key>` into the party of the request (`APIContext.party` for middleware,
/// `Caller.party` and `Caller.key` for handlers). A key that is present but unknown, malformed or revoked is
/// refused at once with 401 `unauthorized`; an expired key with 401 `key_expired`; the key of a suspended
/// or closed party with 401 `party_suspended` or `party_closed`. A request without a key is refused with 401
/// unless the contract makes its operation public. A key over its rate limit is refused with 429 and
/// `Retry-After`; requests without a key are limited the same way per client address, and applications
/// more strictly.
struct Authenticate: RouterMiddleware {
    let store: MarketStore
    let limiter: RateLimiter?
    let applications: RateLimiter?
    let access: AccessCache?

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        // Probes, metrics and the contract answer everyone, however often they are asked.
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            let address = context.clientAddress ?? "unknown"
            try limit("address \(address)", "requests without an API key from this address")
            guard Self.isPublic(request) else { throw Problem.unauthorized }
            if request.method == .post, request.uri.path == "/v1/applications" {
                try limit(applications, "applications \(address)", "applications from this address")
            }
            return try await Caller.$address.withValue(address) { try await next(request, context) }
        }
        guard header.hasPrefix("Bearer ") else { throw Problem.unauthorized }
        let token = String(header.dropFirst(7))
        let (party, key) = try await check(token)
        // Counted by the key's public prefix (`pdx_<12 hex>`): the secret part is not kept.
        try limit(String(header.dropFirst(7).prefix(16)), "this API key")
        var context = context
        context.party = party
        context.logger[metadataKey: "party.id"] = "\(party.id)"
        return try await Caller.$key.withValue(key) {
            try await Caller.$party.withValue(party) { try await next(request, context) }
        }
    }

    /// The key's party and the key: from memory when the access cache holds it (a key or party changed since
    /// is announced and dropped), else from the database (and kept).
    private func check(_ token: String) async throws -> (Party, APIKey) {
        let digest = Data(SHA256.hash(data: Data(token.utf8)))
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        let prefix = parts.count == 3 ? String(parts[1]) : nil
        if let access, let prefix, let hit = access.key(prefix: prefix), hit.digest.count == digest.count,
           zip(hit.digest, digest).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 {
            if let expires = hit.key.expiresAt, expires <= Date() { throw Problem.refused(.expired) }
            return (hit.party, hit.key)
        }
        let generation = access?.generation()
        switch try await store.checkAPIKey(token) {
        case .success(let found):
            if let access, let generation { access.store(AccessCache.Key(digest: digest, party: found.party, key: found.key), readAt: generation) }
            return (found.party, found.key)
        case .failure(let refusal):
            throw Problem.refused(refusal)
        }
    }

    /// The operations the contract lets anyone call (`security` with `{}`): reading the catalogue,
    /// `GET /v1/products` and `GET /v1/products/{id}`, the sectors and scenarios, and applying to join
    /// (`POST /v1/applications`, `POST /v1/applications/{id}/claim`). (SchemaTests checks this against the
    /// contract.)
    static func isPublic(_ request: Request) -> Bool {
        switch request.method {
        case .get, .head:
            let whole = request.uri.path
            if whole == "/v1/sectors" || whole == "/v1/scenarios" { return true }
            // `/v1/products`, then at most one more non-empty component (read without splitting the path: this
            // runs for every catalogue read).
            let path = whole.utf8
            let prefix = "/v1/products".utf8
            guard path.starts(with: prefix) else { return false }
            let rest = path.dropFirst(prefix.count)
            guard let first = rest.first else { return true }
            guard first == UInt8(ascii: "/") else { return false }
            return !rest.dropFirst().dropLast(rest.last == UInt8(ascii: "/") ? 1 : 0).contains(UInt8(ascii: "/"))
        case .post:
            let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count >= 3, parts[1] == "v1", parts[2] == "applications" else { return false }
            return parts.count == 3 || (parts.count == 5 && !parts[3].isEmpty && parts[4] == "claim")
        default:
            return false
        }
    }

    private func limit(_ key: String, _ who: String) throws {
        try limit(limiter, key, who)
    }

    private func limit(_ limiter: RateLimiter?, _ key: String, _ who: String) throws {
        guard let limiter, let wait = limiter.take(key) else { return }
        var problem = Problem(.tooManyRequests, code: "rate_limited",
                              detail: "\(who) exceeded \(limiter.limit.perSecond.formatted()) requests a second; retry later")
        problem.headers[.retryAfter] = String(Int(wait.rounded(.up)))
        throw problem
    }
}
