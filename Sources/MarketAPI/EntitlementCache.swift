import Foundation
public import Logging
import MarketStore
import PDXTokens
public import Postgres
public import ServiceLifecycle
import Synchronization

/// What `POST /v1/entitlements/verify` answers from memory: the published signing keys (a verifier that
/// remembers tokens it checked) and entitlements as last read. Every change is announced when it commits
/// (`pdx_entitlements` for an entitlement's state or end, `pdx_signing_keys` for a rotation; sql/0019), and
/// this service listens: while it is not listening (before the first `LISTEN`, after a reconnect until it
/// is in effect again) nothing is kept, and a reconnect empties it. Entries expire after `maximumAge` too.
public final class EntitlementCache: Service, Sendable {
    let capacity: Int
    let maximumAge: Duration
    private let listener: PostgresListener
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var entitlements: [UUID: (entitlement: Entitlement, stored: ContinuousClock.Instant)] = [:]
        var verifier: (verifier: TokenVerifier, stored: ContinuousClock.Instant)?
        var generation: UInt64 = 0
        var listening = 0
    }

    public init(database: PostgresConfiguration, capacity: Int = 100_000, maximumAge: Duration = .seconds(30), logger: Logger) throws {
        var configuration = database
        configuration.applicationName = "pdx serve entitlement cache"
        listener = try PostgresListener(configuration: configuration, logger: logger)
        self.capacity = capacity
        self.maximumAge = maximumAge
        self.logger = logger
    }

    public func run() async throws {
        let entitlements = try listener.subscribe(to: "pdx_entitlements")
        let keys = try listener.subscribe(to: "pdx_signing_keys")
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.follow(entitlements, keys: false) }
                group.addTask { await self.follow(keys, keys: true) }
            }
        } onGracefulShutdown: {
            self.listener.shutdown()
        }
        reset(listening: nil)
    }

    private func follow(_ events: AsyncStream<PostgresListenerEvent>, keys: Bool) async {
        for await event in events {
            switch event {
            case .listening:
                reset(listening: true)
            case .notification(let notification):
                state.withLock { state in
                    state.generation &+= 1
                    if keys {
                        state.verifier = nil
                    } else if let id = UUID(uuidString: notification.payload) {
                        state.entitlements[id] = nil
                    } else {
                        state.entitlements = [:]
                    }
                }
            }
        }
    }

    private func reset(listening: Bool?) {
        state.withLock { state in
            state.generation &+= 1
            state.entitlements = [:]
            state.verifier = nil
            if let listening { state.listening += listening ? 1 : 0 } else { state.listening = 0 }
        }
    }

    /// Both channels are listened to.
    private func fresh(_ stored: ContinuousClock.Instant, _ state: State) -> Bool { state.listening >= 2 && .now - stored < maximumAge }

    func generation() -> UInt64? { state.withLock { $0.listening >= 2 ? $0.generation : nil } }

    func verifier() -> TokenVerifier? {
        state.withLock { state in state.verifier.flatMap { fresh($0.stored, state) ? $0.verifier : nil } }
    }

    func store(_ verifier: TokenVerifier, readAt generation: UInt64) {
        state.withLock { state in
            guard state.listening >= 2, state.generation == generation else { return }
            state.verifier = (verifier, .now)
        }
    }

    func entitlement(_ id: UUID) -> Entitlement? {
        state.withLock { state in state.entitlements[id].flatMap { fresh($0.stored, state) ? $0.entitlement : nil } }
    }

    func store(_ entitlement: Entitlement, readAt generation: UInt64) {
        state.withLock { state in
            guard state.listening >= 2, state.generation == generation else { return }
            if state.entitlements.count >= capacity, state.entitlements[entitlement.id] == nil {
                state.entitlements = state.entitlements.filter { .now - $0.value.stored < maximumAge }
                guard state.entitlements.count < capacity else { return }
            }
            state.entitlements[entitlement.id] = (entitlement, .now)
        }
    }
}
