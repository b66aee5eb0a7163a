import Foundation
import HTTPTypes
import Hummingbird
public import Logging
public import Postgres
public import ServiceLifecycle
import Synchronization

/// Listed products' JSON, encoded as the generated server encodes them, kept in memory for
/// `GET /v1/products/{id}` (answered by `CachedCatalogueReads` before the generated server, which would
/// encode each response anew: 15 % of the server's time under load, measured) and dropped when the catalogue
/// changes: every change is announced on `pdx_catalogue` when it commits (sql/0012), and this service
/// listens. It serves only while it is listening: before the first `LISTEN`, and from a reconnect until
/// `LISTEN` is in effect again, every read goes to the database, and a reconnect empties it (what was
/// announced meanwhile is lost). Entries also expire after `maximumAge`, a bound on staleness should a
/// notification ever be dropped.
public final class CatalogueCache: Service, Sendable {
    let capacity: Int
    let maximumAge: Duration
    private let listener: PostgresListener
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var entries: [UUID: (body: ByteBuffer, stored: ContinuousClock.Instant)] = [:]
        /// Moves on every invalidation: a read that started before one may not store what it read.
        var generation: UInt64 = 0
        var listening = false
    }

    public init(database: PostgresConfiguration, capacity: Int = 50_000, maximumAge: Duration = .seconds(30), logger: Logger) throws {
        var configuration = database
        configuration.applicationName = "pdx serve catalogue cache"
        self.listener = try PostgresListener(configuration: configuration, logger: logger)
        self.capacity = capacity
        self.maximumAge = maximumAge
        self.logger = logger
    }

    public func run() async throws {
        let events = try listener.subscribe(to: "pdx_catalogue")
        await withGracefulShutdownHandler {
            for await event in events {
                switch event {
                case .listening:
                    reset(listening: true)
                    logger.debug("catalogue cache listening")
                case .notification(let notification):
                    if let id = UUID(uuidString: notification.payload) { invalidate(id) } else { reset(listening: true) }
                }
            }
        } onGracefulShutdown: {
            self.listener.shutdown()
        }
        reset(listening: false)
    }

    /// The cached body, while listening and fresh.
    func body(of id: UUID, now: ContinuousClock.Instant = .now) -> ByteBuffer? {
        state.withLock { state in
            guard state.listening, let entry = state.entries[id], now - entry.stored < maximumAge else { return nil }
            return entry.body
        }
    }

    /// Where a read starts: pass it to `store` with what was read. Nil while not listening.
    func generation() -> UInt64? {
        state.withLock { $0.listening ? $0.generation : nil }
    }

    /// Keeps `body` unless the catalogue changed since `generation` (the read may be stale) or the cache is full.
    func store(_ body: ByteBuffer, of id: UUID, readAt generation: UInt64, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            guard state.listening, state.generation == generation else { return }
            if state.entries.count >= capacity, state.entries[id] == nil {
                state.entries = state.entries.filter { now - $0.value.stored < maximumAge }
                guard state.entries.count < capacity else { return }
            }
            state.entries[id] = (body, now)
        }
    }

    var count: Int { state.withLock { $0.entries.count } }

    private func invalidate(_ id: UUID) {
        state.withLock { state in
            state.generation &+= 1
            state.entries[id] = nil
        }
    }

    private func reset(listening: Bool) {
        state.withLock { state in
            state.generation &+= 1
            state.entries = [:]
            state.listening = listening
        }
    }
}

/// Answers `GET /v1/products/{id}` from the catalogue cache when it has the product: the bytes the
/// generated server wrote for it the first time (`getProduct` stores them), as they are. Anything it
/// does not have, or an `Accept` that does not take JSON, goes on to the generated server.
struct CachedCatalogueReads: RouterMiddleware {
    let cache: CatalogueCache

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard request.method == .get, context.endpointPath == "/v1/products/{id}", acceptsJSON(request.headers[.accept]),
              let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)), let body = cache.body(of: id) else {
            return try await next(request, context)
        }
        return Response(status: .ok, headers: [.contentType: Self.contentType], body: .init(byteBuffer: body))
    }

    /// What the generated server sends with a JSON body.
    static let contentType = "application/json; charset=utf-8"

    private func acceptsJSON(_ accept: String?) -> Bool {
        guard let accept else { return true }
        return accept.split(separator: ",").contains { range in
            let type = (range.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            return ["application/json", "application/*", "*/*"].contains(type)
        }
    }
}
