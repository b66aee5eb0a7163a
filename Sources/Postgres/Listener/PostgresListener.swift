public import Logging
public import ServiceLifecycle
import Synchronization

/// What a listener subscription delivers.
public enum PostgresListenerEvent: Sendable, Hashable {
    /// `LISTEN` is in effect on a fresh connection: the first event of every subscription, and again after
    /// each reconnect. Notifications sent while no connection was listening are lost, so treat this as
    /// "anything may have happened": re-read the state you care about.
    case listening
    case notification(PostgresNotification)
}

/// Receives `NOTIFY` messages on a connection of its own, as `AsyncSequence`s of events.
///
/// When the server goes away (restart, `pg_terminate_backend`), the listener reconnects with backoff and
/// runs `LISTEN` again for every channel that still has subscribers. Its thread waits in `poll(2)` on the
/// socket, so a notification wakes it at once; nothing polls the database.
///
/// It starts with the first subscription; as a `Service`, `run()` stops it at graceful shutdown.
public final class PostgresListener: Service, Sendable {
    private struct Subscriber {
        var channel: String
        var continuation: AsyncStream<PostgresListenerEvent>.Continuation
        var announcedGeneration = 0
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var nextID = 0
        var started = false
        var stopping = false
    }

    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    private let connection: PQConnection
    private let bufferLimit: Int

    /// - Parameter bufferLimit: notifications kept per subscriber that has not read them yet; beyond it
    ///   the oldest are dropped.
    public init(configuration: PostgresConfiguration, logger: Logger = Logger(label: "pdx.postgres.listener"),
                bufferLimit: Int = 10_000) throws {
        self.configuration = configuration
        self.logger = logger
        self.bufferLimit = bufferLimit
        self.connection = try PQConnection(statementCacheCapacity: 0, logger: logger)
    }

    /// Subscribes to a channel. The sequence first yields `.listening` once `LISTEN` is in effect, then
    /// each notification; it ends when the task iterating it stops, or when the listener shuts down.
    public func subscribe(to channel: String) throws -> AsyncStream<PostgresListenerEvent> {
        guard !channel.isEmpty, channel.utf8.count <= 63, !channel.utf8.contains(0) else {
            throw PostgresError(kind: .invalidUsage, message: "a channel name must have 1 to 63 bytes and no NUL")
        }
        let (stream, continuation) = AsyncStream<PostgresListenerEvent>.makeStream(bufferingPolicy: .bufferingNewest(bufferLimit))
        let (id, mustStart) = try state.withLock { state throws(PostgresError) -> (Int, Bool) in
            guard !state.stopping else {
                throw PostgresError(kind: .invalidUsage, message: "the listener has shut down; subscribe on a new one")
            }
            state.nextID += 1
            state.subscribers[state.nextID] = Subscriber(channel: channel, continuation: continuation)
            defer { state.started = true }
            return (state.nextID, !state.started)
        }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
            connection.cancelSignal.pipe.wake()
        }
        if mustStart {
            let connection = self.connection
            try startDetachedThread { [self] in
                runLoop()
                _ = connection
            }
        } else {
            connection.cancelSignal.pipe.wake()
        }
        return stream
    }

    /// Stops listening and ends every subscription.
    public func shutdown() {
        state.withLock { $0.stopping = true }
        connection.cancelSignal.pipe.wake()
    }

    /// Runs until graceful shutdown, then stops the listener.
    public func run() async throws {
        try? await gracefulShutdown()
        shutdown()
    }

    // MARK: The listener thread

    private func runLoop() {
        var listening = Set<String>()
        var generation = 0
        var connected = false
        var backoff: Int32 = 100
        while !state.withLock({ $0.stopping }) {
            do {
                if !connected {
                    try connection.connect(configuration)
                    connected = true
                    generation += 1
                    listening = []
                    backoff = 100
                    logger.debug("listener connected", metadata: ["db.backend_pid": "\(connection.backendPID)"])
                }
                try reconcile(&listening, generation: generation)
                deliver(connection.takeNotifications())
                let hadInput = try connection.waitForInput(timeoutMilliseconds: 30_000)
                if !hadInput && !state.withLock({ $0.stopping }) {
                    // Quiet for a while: make sure the server is still there.
                    _ = connection.beginCommand()
                    try connection.simpleQuery("SELECT 1", command: nil)
                }
                deliver(connection.takeNotifications())
            } catch {
                if connected {
                    logger.warning("listener lost its connection; reconnecting", metadata: ["error": "\(error)"])
                } else {
                    logger.warning("listener could not connect; retrying", metadata: ["error": "\(error)", "retry_ms": "\(backoff)"])
                    _ = connection.waitForWakeUp(timeoutMilliseconds: backoff)
                    backoff = min(backoff * 2, 5_000)
                }
                deliver(connection.takeNotifications())
                connection.finish()
                connected = false
            }
        }
        connection.finish()
        let subscribers = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.continuation.finish() }
    }

    /// Makes the connection's LISTEN set match the subscribed channels, then tells new subscribers.
    private func reconcile(_ listening: inout Set<String>, generation: Int) throws {
        let wanted = Set(state.withLock { $0.subscribers.values.map(\.channel) })
        for channel in wanted.subtracting(listening).sorted() {
            _ = connection.beginCommand()
            try connection.simpleQuery("LISTEN " + quoteIdentifier(channel), command: nil)
            listening.insert(channel)
        }
        for channel in listening.subtracting(wanted).sorted() {
            _ = connection.beginCommand()
            try connection.simpleQuery("UNLISTEN " + quoteIdentifier(channel), command: nil)
            listening.remove(channel)
        }
        let announce = state.withLock { state in
            var due: [AsyncStream<PostgresListenerEvent>.Continuation] = []
            for (id, subscriber) in state.subscribers
            where subscriber.announcedGeneration != generation && listening.contains(subscriber.channel) {
                state.subscribers[id]?.announcedGeneration = generation
                due.append(subscriber.continuation)
            }
            return due
        }
        for continuation in announce { continuation.yield(.listening) }
    }

    private func deliver(_ notifications: [PostgresNotification]) {
        guard !notifications.isEmpty else { return }
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for notification in notifications {
            for subscriber in subscribers where subscriber.channel == notification.channel {
                subscriber.continuation.yield(.notification(notification))
            }
        }
    }
}
