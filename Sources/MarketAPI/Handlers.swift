import Foundation
import HTTPTypes
import Hummingbird
import Market
import MarketStore
import Migrations
import OpenAPIRuntime
import PDXAPITypes
import Postgres
import Prometheus

/// The operations of the contract (`openapi.yaml`), implemented over the market store: the generated
/// server (`Generated/Server.swift`) routes each request here with its parameters and body decoded, and
/// encodes what is returned; a status or body the contract does not allow does not compile.
///
/// Handlers return only their success; every refusal is thrown (`Problem`, `MarketInputError`, …) and
/// answered by `ProblemMiddleware`, so that `RequestTransaction` rolls back whatever a refused request wrote.
/// The caller's party is `Caller.party`, set by `Authenticate`.
struct Handlers: APIProtocol {
    let store: MarketStore
    let configuration: APIConfiguration

    func healthz(_ input: Operations.Healthz.Input) async throws -> Operations.Healthz.Output {
        .ok(.init(body: .json(.init(status: "ok"))))
    }

    func readyz(_ input: Operations.Readyz.Input) async throws -> Operations.Readyz.Output {
        let current: Bool
        do {
            current = try await store.pool.withConnection { connection in
                try await Migrator.embedded().status(on: connection).allSatisfy { if case .applied = $0.state { true } else { false } }
            }
        } catch {
            throw Problem.unavailable("the database is unreachable")
        }
        guard current else { throw Problem.unavailable("the database's migrations are not current; run pdx migrate") }
        return .ok(.init(body: .json(.init(status: "ready"))))
    }

    func metrics(_ input: Operations.Metrics.Input) async throws -> Operations.Metrics.Output {
        guard let registry = configuration.metrics else { throw Problem(.notFound, code: "not_found", detail: "metrics are not enabled") }
        return .ok(.init(body: .plainText(HTTPBody(registry.emitToBuffer()))))
    }

    // The contract is answered by `ServedContract` before it gets here; these answer the same, more slowly
    // (the generated server decodes and encodes the JSON document as a value).

    func openapiYAML(_ input: Operations.OpenapiYAML.Input) async throws -> Operations.OpenapiYAML.Output {
        .ok(.init(body: .yaml(HTTPBody(openAPIYAML))))
    }

    func openapiJSON(_ input: Operations.OpenapiJSON.Input) async throws -> Operations.OpenapiJSON.Output {
        .ok(.init(body: .json(try JSONDecoder().decode(OpenAPIObjectContainer.self, from: Data(openAPIJSON.utf8)))))
    }
}

/// Who is asking: the party of the request's API key (nil without one), for the handlers.
enum Caller {
    @TaskLocal static var party: Party?
    /// The key the caller sent.
    @TaskLocal static var key: APIKey?
    /// The client's address, for a request without a key.
    @TaskLocal static var address: String?

    /// The caller's party, or 401.
    static func required() throws -> Party {
        guard let party else { throw Problem.unauthorized }
        return party
    }
}

/// A UUID the contract passes as text (`format: uuid`): a path parameter, a cursor or a body's field.
func uuid(_ text: String, field: String) throws(MarketInputError) -> UUID {
    guard let id = UUID(uuidString: text) else { throw MarketInputError(field: field, rule: "must be a UUID") }
    return id
}

/// `?after=<cursor>&limit=<n>`: at most 200, 50 when not given.
func page(after: String?, limit: Int?) throws(MarketInputError) -> (after: UUID?, limit: Int) {
    if let limit, !(1...200).contains(limit) { throw MarketInputError(field: "limit", rule: "must be a whole number from 1 to 200") }
    let cursor = try after.map { text throws(MarketInputError) in
        guard let id = UUID(uuidString: text) else { throw MarketInputError(field: "after", rule: "must be a cursor from next") }
        return id
    }
    return (cursor, limit ?? 50)
}

extension Handlers {
    /// A page of the caller's own rows (`?after=&limit=`), as the contract's items and the cursor after them.
    func ownPage<Row, Item>(after: String?, limit: Int?, _ read: (UUID, UUID?, Int) async throws -> [Row],
                            id: (Row) -> UUID, as item: (Row) throws -> Item) async throws -> (items: [Item], next: String?) {
        let party = try Caller.required()
        let (after, limit) = try page(after: after, limit: limit)
        let rows = try await read(party.id, after, limit)
        return (try rows.map(item), next(rows, limit: limit, id: id))
    }
}

/// The cursor after a page of `limit` asked: a full page may have more after its last item; nil at the end.
func next<Item>(_ items: [Item], limit: Int, id: (Item) -> UUID) -> String? {
    items.count == limit ? items.last.map { id($0).lowercased } : nil
}

extension UUID {
    /// The API's spelling of an id.
    var lowercased: String { uuidString.lowercased() }
}

/// Answers `GET /openapi.yaml` and `GET /openapi.json` with the documents as committed, byte for byte: the
/// generated server would decode the 200 KB JSON document into a value and encode it again on every request
/// (seconds in a debug build).
struct ServedContract: RouterMiddleware {
    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard request.method == .get else { return try await next(request, context) }
        switch context.endpointPath {
        case "/openapi.yaml": return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: Self.yaml))
        case "/openapi.json": return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: Self.json))
        default: return try await next(request, context)
        }
    }

    private static let yaml = ByteBuffer(string: openAPIYAML)
    private static let json = ByteBuffer(string: openAPIJSON)
}
