public import Foundation
public import Hummingbird
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

    /// The request's JSON body: its decoding errors reach `ProblemMiddleware` as they are (so the
    /// problem names the field), and a body above `maxUploadSize` is a 413.
    func decodeBody<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        try await requestDecoder.decode(type, from: request, context: self)
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
        v1.post("demands") { request, context -> EditedResponse<DemandBody> in
            let party = try context.requireParty()
            guard party.kind == .demander || party.kind == .operator else {
                throw Problem.forbidden("only demanders and operators post demands")
            }
            let body = try await context.decodeBody(NewDemandBody.self, from: request)
            let id = try await store.postDemand(try body.request(), demander: party.id, open: body.open ?? false, by: .party(party.id))
            return EditedResponse(status: .created, headers: [.location: "/v1/demands/\(id.uuidString.lowercased())"],
                                  response: DemandBody(try await store.demand(id)))
        }
        v1.get("demands") { request, context -> Page<DemandBody> in
            let party = try context.requireParty()
            let limit = try request.uri.queryParameters["limit"].map { text -> Int in
                guard let value = Int(text) else { throw MarketInputError(field: "limit", rule: "must be a whole number") }
                return value
            } ?? 50
            let after = try request.uri.queryParameters["after"].map { text -> UUID in
                guard let value = UUID(uuidString: String(text)) else { throw MarketInputError(field: "after", rule: "must be a cursor from next") }
                return value
            }
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
struct Page<Item: ResponseEncodable>: ResponseEncodable {
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
