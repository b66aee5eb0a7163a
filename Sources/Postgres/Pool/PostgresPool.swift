import DequeModule
public import Logging
public import ServiceLifecycle
import Synchronization

/// A pool of connections that lends one to a closure at a time.
///
/// - Between `minConnections` and `maxConnections` connections; waiting for one gives up after
///   `acquireTimeout`.
/// - A connection that broke, or that the closure left inside a transaction, is closed, never lent again.
/// - An idle connection whose backend went away (restart, `pg_terminate_backend`) is noticed before it is
///   lent, without a round trip, and replaced.
/// - When connecting fails, the waiters get the connection error at once instead of waiting for the timeout.
/// - As a `Service`, `run()` keeps `minConnections` open, checks idle connections and closes surplus ones,
///   and closes the pool at graceful shutdown. The pool also works without `run()`.
/// - Session state is not reset between borrowers (that would cost a round trip and the prepared
///   statements): use `SET LOCAL` inside transactions rather than `SET`, and drop temporary tables.
public final class PostgresPool: Service, Sendable {
    public struct Configuration: Sendable {
        public var connection: PostgresConfiguration
        public var minConnections: Int
        public var maxConnections: Int
        /// How long `withConnection` waits for a free connection before failing.
        public var acquireTimeout: Duration
        /// Idle connections above `minConnections` are closed after this long.
        public var idleTimeout: Duration
        /// How often `run()` checks idle connections.
        public var healthCheckInterval: Duration

        public init(
            connection: PostgresConfiguration,
            minConnections: Int = 0,
            maxConnections: Int = 10,
            acquireTimeout: Duration = .seconds(10),
            idleTimeout: Duration = .seconds(60),
            healthCheckInterval: Duration = .seconds(10)
        ) {
            self.connection = connection
            self.minConnections = max(0, minConnections)
            self.maxConnections = max(1, maxConnections, minConnections)
            self.acquireTimeout = acquireTimeout
            self.idleTimeout = idleTimeout
            self.healthCheckInterval = healthCheckInterval
        }
    }

    /// Counts at one instant.
    public struct Statistics: Sendable, Hashable {
        public var idle: Int
        public var leased: Int
        public var connecting: Int
        public var waiting: Int
        public var total: Int { idle + leased + connecting }

        public init(idle: Int, leased: Int, connecting: Int, waiting: Int) {
            self.idle = idle
            self.leased = leased
            self.connecting = connecting
            self.waiting = waiting
        }
    }

    private typealias Waiter = CheckedContinuation<PostgresConnection, any Error>

    private struct Idle {
        var connection: PostgresConnection
        /// When it last went back to the pool from a borrower (health checks leave this alone).
        var since: ContinuousClock.Instant
        /// When it was last found alive.
        var checked: ContinuousClock.Instant
    }

    private struct State {
        var idle: [Idle] = []
        var leased = 0
        var connecting = 0
        var waiters: Deque<(id: Int, continuation: Waiter, timeout: Task<Void, Never>?)> = []
        var nextWaiterID = 0
        var closed = false
        var total: Int { idle.count + leased + connecting }
    }

    /// What to do once the lock is released.
    private struct Actions {
        var resume: [(Waiter, Result<PostgresConnection, any Error>)] = []
        var close: [PostgresConnection] = []
        var connect = 0
        var cancelTimeouts: [Task<Void, Never>] = []
    }

    public let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())

    public init(configuration: Configuration, logger: Logger = Logger(label: "pdx.postgres.pool")) {
        self.configuration = configuration
        self.logger = logger
    }

    public var statistics: Statistics {
        state.withLock { Statistics(idle: $0.idle.count, leased: $0.leased, connecting: $0.connecting, waiting: $0.waiters.count) }
    }

    // MARK: Lending

    /// Lends a connection to `body`, which runs isolated to it (on the connection's own thread), and takes
    /// it back afterwards. `body` must not keep the connection.
    public func withConnection<R: Sendable>(
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async throws -> R {
        // Idle connections found dead are replaced; bounded so a flapping server cannot loop forever.
        for _ in 0...configuration.maxConnections {
            let connection = try await acquire()
            let (outcome, reusable) = await connection.lease(body)
            release(connection, reusable: reusable)
            if let outcome { return try outcome.get() }
        }
        throw PostgresError(kind: .connectionClosed, message: "every pooled connection was found closed by the server")
    }

    /// Runs `body` in a transaction on a pooled connection (see `PostgresConnection.transaction`).
    @discardableResult
    public func withTransaction<R: Sendable>(
        isolation: PostgresIsolationLevel? = nil,
        readOnly: Bool = false,
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async throws -> R {
        try await withConnection { connection in
            try await connection.transaction(isolation: isolation, readOnly: readOnly, body)
        }
    }

    /// Runs a transaction, repeating it on serialization failure or deadlock
    /// (see `PostgresConnection.retryingTransaction`).
    @discardableResult
    public func withRetryingTransaction<R: Sendable>(
        isolation: PostgresIsolationLevel = .serializable,
        readOnly: Bool = false,
        maxAttempts: Int = 5,
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async throws -> R {
        try await withConnection { connection in
            try await connection.retryingTransaction(isolation: isolation, readOnly: readOnly, maxAttempts: maxAttempts, body)
        }
    }

    /// Runs one statement on a pooled connection.
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection { try await $0.query(query) }
    }

    /// Runs one statement on a pooled connection and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await withConnection { try await $0.execute(query) }
    }

    private func acquire() async throws -> PostgresConnection {
        let immediate = try state.withLock { state throws(PostgresError) -> PostgresConnection? in
            if state.closed { throw PostgresError(kind: .poolClosed, message: "the connection pool has been shut down") }
            guard let idle = state.idle.popLast() else { return nil }
            state.leased += 1
            return idle.connection
        }
        if let immediate { return immediate }
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                var actions = Actions()
                state.withLock { state in
                    if state.closed {
                        actions.resume.append((continuation, .failure(PostgresError(kind: .poolClosed, message: "the connection pool has been shut down"))))
                    } else if let idle = state.idle.popLast() {
                        state.leased += 1
                        actions.resume.append((continuation, .success(idle.connection)))
                    } else if Task.isCancelled {
                        actions.resume.append((continuation, .failure(CancellationError())))
                    } else {
                        let timeout = Task { [weak self, limit = configuration.acquireTimeout] in
                            try? await Task.sleep(for: limit)
                            guard !Task.isCancelled else { return }
                            self?.failWaiter(id, PostgresError(
                                kind: .poolTimeout,
                                message: "no connection became free within \(limit) (pool of \(self?.configuration.maxConnections ?? 0))"))
                        }
                        state.waiters.append((id, continuation, timeout))
                        actions.connect = startConnects(&state)
                    }
                }
                perform(actions)
            }
        } onCancel: {
            failWaiter(id, CancellationError())
        }
    }

    private func failWaiter(_ id: Int, _ error: any Error) {
        var actions = Actions()
        state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return }
            let waiter = state.waiters.remove(at: index)
            actions.resume.append((waiter.continuation, .failure(error)))
            if let timeout = waiter.timeout { actions.cancelTimeouts.append(timeout) }
        }
        perform(actions)
    }

    /// Starts as many connection attempts as waiters need (or as `minConnections` needs), within `maxConnections`.
    private func startConnects(_ state: inout State) -> Int {
        let wanted = max(state.waiters.count - state.connecting, configuration.minConnections - state.total, 0)
        let allowed = max(0, configuration.maxConnections - state.total)
        let count = min(wanted, allowed)
        state.connecting += count
        return count
    }

    private func release(_ connection: PostgresConnection, reusable: Bool, idleSince: ContinuousClock.Instant? = nil) {
        var actions = Actions()
        state.withLock { state in
            state.leased -= 1
            if !reusable || state.closed {
                actions.close.append(connection)
                if !state.closed { actions.connect = startConnects(&state) }
            } else if !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                state.leased += 1
                actions.resume.append((waiter.continuation, .success(connection)))
                if let timeout = waiter.timeout { actions.cancelTimeouts.append(timeout) }
            } else {
                let now = ContinuousClock.now
                state.idle.append(Idle(connection: connection, since: idleSince ?? now, checked: now))
            }
        }
        perform(actions)
    }

    private func perform(_ actions: Actions) {
        for task in actions.cancelTimeouts { task.cancel() }
        for (continuation, result) in actions.resume { continuation.resume(with: result) }
        for connection in actions.close { Task { await connection.close() } }
        for _ in 0..<actions.connect { connectOne() }
    }

    private func connectOne() {
        Task { [configuration, logger] in
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration.connection, logger: logger)
                self.connected(connection)
            } catch {
                self.connectFailed(error)
            }
        }
    }

    private func connected(_ connection: PostgresConnection) {
        var actions = Actions()
        state.withLock { state in
            state.connecting -= 1
            if state.closed {
                actions.close.append(connection)
            } else if !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                state.leased += 1
                actions.resume.append((waiter.continuation, .success(connection)))
                if let timeout = waiter.timeout { actions.cancelTimeouts.append(timeout) }
            } else {
                state.idle.append(Idle(connection: connection, since: .now, checked: .now))
            }
        }
        perform(actions)
    }

    /// Hands the connection error to the oldest waiter (each waiter started one attempt), so nobody waits
    /// for the acquire timeout while the database refuses connections. While connections are lent out,
    /// waiters keep waiting for one of those instead (the failure may be passing, like too many clients).
    private func connectFailed(_ error: any Error) {
        logger.warning("could not open a pooled connection", metadata: ["error": "\(error)"])
        var actions = Actions()
        state.withLock { state in
            state.connecting -= 1
            if !state.waiters.isEmpty && state.leased == 0 {
                let waiter = state.waiters.removeFirst()
                actions.resume.append((waiter.continuation, .failure(error)))
                if let timeout = waiter.timeout { actions.cancelTimeouts.append(timeout) }
            }
            if !state.closed && !state.waiters.isEmpty && state.leased == 0 { actions.connect = startConnects(&state) }
        }
        perform(actions)
    }

    // MARK: Service

    /// Keeps the pool healthy until graceful shutdown or cancellation, then closes it.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.keepHealthy()
        }
        await close()
    }

    /// Keeps `minConnections` open, checks idle connections and closes surplus ones, until the task is
    /// cancelled; leaves the pool open. For owners that close the pool themselves, at their own time.
    public func keepHealthy() async {
        while !Task.isCancelled {
            await maintain()
            try? await Task.sleep(for: configuration.healthCheckInterval)
        }
    }

    /// One round of upkeep: close surplus idle connections, check the others, top up to the minimum.
    func maintain() async {
        let now = ContinuousClock.now
        var actions = Actions()
        var toCheck: [Idle] = []
        state.withLock { state in
            guard !state.closed else { return }
            var keep: [Idle] = []
            var surplus = state.total - configuration.minConnections
            for idle in state.idle {
                if surplus > 0 && now - idle.since >= configuration.idleTimeout {
                    actions.close.append(idle.connection)
                    surplus -= 1
                } else if now - idle.checked >= configuration.healthCheckInterval {
                    toCheck.append(idle)
                    state.leased += 1
                } else {
                    keep.append(idle)
                }
            }
            state.idle = keep
            actions.connect = startConnects(&state)
        }
        perform(actions)
        await withTaskGroup(of: Void.self) { group in
            for idle in toCheck {
                group.addTask {
                    let healthy = await idle.connection.ping()
                    self.release(idle.connection, reusable: healthy, idleSince: idle.since)
                }
            }
        }
    }

    /// Closes idle connections, fails waiters, and closes leased connections when they come back.
    public func close() async {
        var actions = Actions()
        state.withLock { state in
            state.closed = true
            actions.close = state.idle.map(\.connection)
            state.idle = []
            for waiter in state.waiters {
                actions.resume.append((waiter.continuation, .failure(PostgresError(kind: .poolClosed, message: "the connection pool has been shut down"))))
                if let timeout = waiter.timeout { actions.cancelTimeouts.append(timeout) }
            }
            state.waiters = []
        }
        for task in actions.cancelTimeouts { task.cancel() }
        for (continuation, result) in actions.resume { continuation.resume(with: result) }
        for connection in actions.close { await connection.close() }
    }
}
