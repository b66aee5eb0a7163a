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
/// The thread and its connection start with the first subscription and stop when the last one ends (or
/// at `shutdown()`; as a `Service`, `run()` shuts down at graceful shutdown).
public final class PostgresListener: Service, Sendable {
    private struct Subscriber {
        var channel: String
        var continuation: AsyncStream<PostgresListenerEvent>.Continuation
        var announcedGeneration = 0
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var nextID = 0
        /// A thread is running (it clears this itself, under the lock, when it leaves).
        var running = false
        var stopping = false
    }

    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    /// Wakes the thread when subscriptions change or at shutdown; shared by every thread and connection.
    private let wake: WakePipe
    private let bufferLimit: Int

    /// - Parameter bufferLimit: notifications kept per subscriber that has not read them yet; beyond it
    ///   the oldest are dropped.
    public init(configuration: PostgresConfiguration, logger: Logger = Logger(label: "pdx.postgres.listener"),
                bufferLimit: Int = 10_000) throws {
        self.configuration = configuration
        self.logger = logger
        self.bufferLimit = bufferLimit
        self.wake = try WakePipe()
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
            defer { state.running = true }
            return (state.nextID, !state.running)
        }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
            wake.wake()
        }
        if mustStart {
            do {
                try startDetachedThread { [self] in runLoop() }
            } catch {
                state.withLock { state in
                    state.running = false
                    state.subscribers[id] = nil
                }
                throw error
            }
        } else {
            wake.wake()
        }
        return stream
    }

    /// Stops listening and ends every subscription.
    public func shutdown() {
        state.withLock { $0.stopping = true }
        wake.wake()
    }

    /// Runs until graceful shutdown, then stops the listener.
    public func run() async throws {
        try? await gracefulShutdown()
        shutdown()
    }

    // MARK: The listener thread

    /// Whether the thread should leave: at shutdown, or when nobody listens any more. Decided under the
    /// lock together with clearing `running`, so a new subscription either sees this thread or starts one.
    private func threadShouldExit() -> Bool {
        state.withLock { state in
            guard state.stopping || state.subscribers.isEmpty else { return false }
            state.running = false
            return true
        }
    }

    private func runLoop() {
        var connection: PQConnection?
        var listening = Set<String>()
        var generation = 0
        var backoff: Int32 = 100
        while !threadShouldExit() {
            do {
                if connection == nil {
                    let fresh = try PQConnection(statementCacheCapacity: 0, wake: wake)
                    connection = fresh
                    try fresh.connect(configuration)
                    generation += 1
                    listening = []
                    logger.debug("listener connected", metadata: ["db.backend_pid": "\(fresh.backendPID)"])
                }
                guard let current = connection else { continue }
                try reconcile(current, &listening, generation: generation)
                deliver(current.takeNotifications())
                let hadInput = try current.waitForInput(timeoutMilliseconds: 30_000)
                if !hadInput && !state.withLock({ $0.stopping }) {
                    // Quiet for a while: make sure the server is still there.
                    _ = current.beginCommand()
                    try current.simpleQuery("SELECT 1", command: nil)
                }
                deliver(current.takeNotifications())
                backoff = 100  // a full round succeeded
            } catch {
                if let current = connection { deliver(current.takeNotifications()) }
                logger.warning("listener connection failed; reconnecting", metadata: ["error": "\(error)", "retry_ms": "\(backoff)"])
                connection?.finish()
                connection = nil
                // Back off after every failure, also when connecting worked but LISTEN did not.
                if !state.withLock({ $0.stopping }) { _ = PQConnection.waitForWakeUp(wake, timeoutMilliseconds: backoff) }
                backoff = min(backoff * 2, 5_000)
            }
        }
        connection?.finish()
        let subscribers = state.withLock { state in
            guard state.stopping else { return [Subscriber]() }
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.continuation.finish() }
    }

    /// Makes the connection's LISTEN set match the subscribed channels, then tells new subscribers.
    private func reconcile(_ connection: PQConnection, _ listening: inout Set<String>, generation: Int) throws {
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
