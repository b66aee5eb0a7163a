import Foundation
import PDXAPITypes
public import Logging
public import Postgres
public import ServiceLifecycle
import Synchronization

/// Listed products as the API answers them, kept in memory for `GET /v1/products/{id}` and dropped when the catalogue
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
        var entries: [UUID: (product: Components.Schemas.Product, stored: ContinuousClock.Instant)] = [:]
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

    /// The cached product, while listening and fresh.
    func product(_ id: UUID, now: ContinuousClock.Instant = .now) -> Components.Schemas.Product? {
        state.withLock { state in
            guard state.listening, let entry = state.entries[id], now - entry.stored < maximumAge else { return nil }
            return entry.product
        }
    }

    /// Where a read starts: pass it to `store` with what was read. Nil while not listening.
    func generation() -> UInt64? {
        state.withLock { $0.listening ? $0.generation : nil }
    }

    /// Keeps `product` unless the catalogue changed since `generation` (the read may be stale) or the cache is full.
    func store(_ product: Components.Schemas.Product, of id: UUID, readAt generation: UInt64, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            guard state.listening, state.generation == generation else { return }
            if state.entries.count >= capacity, state.entries[id] == nil {
                state.entries = state.entries.filter { now - $0.value.stored < maximumAge }
                guard state.entries.count < capacity else { return }
            }
            state.entries[id] = (product, now)
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
