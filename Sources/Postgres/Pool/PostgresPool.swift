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
        /// How many connections at most run single statements (`query`, `execute`) in batches, before
        /// `statementBatchPatience` lets more join.
        public var statementRunners: Int
        /// A batch of statements running longer than this lets the pool start another runner (up to
        /// `maxConnections`) for the statements waiting behind it.
        public var statementBatchPatience: Duration

        public init(
            connection: PostgresConfiguration,
            minConnections: Int = 0,
            maxConnections: Int = 10,
            acquireTimeout: Duration = .seconds(10),
            idleTimeout: Duration = .seconds(60),
            healthCheckInterval: Duration = .seconds(10),
            statementRunners: Int = 2,
            statementBatchPatience: Duration = .milliseconds(2)
        ) {
            self.connection = connection
            self.minConnections = max(0, minConnections)
            self.maxConnections = max(1, maxConnections, minConnections)
            self.acquireTimeout = acquireTimeout
            self.idleTimeout = idleTimeout
            self.healthCheckInterval = healthCheckInterval
            self.statementRunners = min(max(1, statementRunners), self.maxConnections)
            self.statementBatchPatience = statementBatchPatience
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
    private let statementIDs = Atomic<Int>(0)

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
        /// Single statements waiting for a runner (`query`, `execute`).
        var statements: Deque<QueuedStatement> = []
        /// Runners started and not yet gone (each holds, or is acquiring, one connection).
        var runners = 0
        /// Runners holding a connection with nothing to run.
        var parked: [ParkedRunner] = []
        /// When each busy runner's batch began, by runner.
        var batches: [Int: ContinuousClock.Instant] = [:]
        var nextRunnerID = 0
        /// A timer will look at the waiting statements again.
        var patienceArmed = false
    }

    private typealias StatementWaiter = CheckedContinuation<PostgresRows, any Error>

    private struct QueuedStatement {
        var id: Int
        var query: PostgresQuery
        var continuation: StatementWaiter
    }

    private struct ParkedRunner {
        var id: Int
        /// Resumed with true when statements arrive, false when the runner should give its connection back.
        var continuation: CheckedContinuation<Bool, Never>
        var since: ContinuousClock.Instant
    }

    /// What to do once the lock is released.
    private struct Actions {
        var resume: [(Waiter, Result<PostgresConnection, any Error>)] = []
        var answer: [(StatementWaiter, Result<PostgresRows, any Error>)] = []
        var wake: [(CheckedContinuation<Bool, Never>, Bool)] = []
        var startRunners = 0
        var armPatience = false
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
        // A parked runner's connection is as good as idle: the next statement or waiter takes it.
        state.withLock { Statistics(idle: $0.idle.count + $0.parked.count, leased: $0.leased - $0.parked.count,
                                    connecting: $0.connecting, waiting: $0.waiters.count + $0.statements.count) }
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

    /// Runs one statement, in its own transaction, and returns its rows.
    ///
    /// With a connection free, the statement runs on it. When every connection is busy, statements wait
    /// for a *runner*: a connection that sends every statement waiting at that moment in one round trip
    /// (each in its own implicit transaction, so one failing leaves the others alone) and answers each
    /// caller — one checkout and two thread hops for the batch instead of for each statement. A batch
    /// running longer than `Configuration.statementBatchPatience` lets the pool start another runner for the
    /// statements behind it (up to `maxConnections`); the statements in the same batch after a slow one
    /// wait for it. Cancelling the caller withdraws a waiting statement and cancels a statement running on
    /// a connection of its own; a statement already sent in a batch runs to its end. For anything that
    /// needs a connection to itself (session state, several statements), use `withConnection`.
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        if state.withLock({ !$0.idle.isEmpty && $0.statements.isEmpty && $0.parked.isEmpty }) {
            return try await withConnection { try await $0.query(query) }
        }
        let id = statementIDs.add(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: StatementWaiter) in
                var actions = Actions()
                state.withLock { state in
                    if state.closed {
                        actions.answer.append((continuation, .failure(PostgresError(kind: .poolClosed, message: "the connection pool has been shut down"))))
                    } else if Task.isCancelled {
                        actions.answer.append((continuation, .failure(CancellationError())))
                    } else {
                        state.statements.append(QueuedStatement(id: id, query: query, continuation: continuation))
                        dispatchStatements(&state, &actions)
                    }
                }
                perform(actions)
            }
        } onCancel: {
            withdrawStatement(id)
        }
    }

    /// Runs one statement (as `query`) and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await self.query(query).affectedRows
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
                        if let parked = state.parked.popLast() {
                            // A runner holding a connection with nothing to run gives it to the waiter.
                            actions.wake.append((parked.continuation, false))
                        } else {
                            actions.connect = startConnects(&state)
                        }
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
        for (continuation, result) in actions.answer { continuation.resume(with: result) }
        for (continuation, go) in actions.wake { continuation.resume(returning: go) }
        // Detached: a runner serves every caller, so it takes none's task-local values or priority.
        for _ in 0..<actions.startRunners { Task.detached { await self.runStatements() } }
        if actions.armPatience {
            Task.detached { [patience = configuration.statementBatchPatience] in
                try? await Task.sleep(for: patience)
                self.patienceElapsed()
            }
        }
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


    // MARK: Statements of many callers on few connections

    /// Wakes a parked runner for the waiting statements, or starts one: up to `statementRunners`, and beyond
    /// that (up to `maxConnections`) while every runner is in a batch older than the patience. While
    /// statements wait behind busy runners, a timer looks again after the patience.
    private func dispatchStatements(_ state: inout State, _ actions: inout Actions) {
        guard !state.statements.isEmpty, !state.closed else { return }
        if let parked = state.parked.popLast() {
            actions.wake.append((parked.continuation, true))
            return
        }
        let now = ContinuousClock.now
        let patience = configuration.statementBatchPatience
        if state.runners < configuration.statementRunners
            || (state.runners < configuration.maxConnections && state.batches.count == state.runners
                && state.batches.values.allSatisfy({ now - $0 >= patience })) {
            state.runners += 1
            actions.startRunners += 1
        } else if !state.patienceArmed && state.batches.count == state.runners {
            state.patienceArmed = true
            actions.armPatience = true
        }
    }

    private func patienceElapsed() {
        var actions = Actions()
        state.withLock { state in
            state.patienceArmed = false
            dispatchStatements(&state, &actions)
        }
        perform(actions)
    }

    private func withdrawStatement(_ id: Int) {
        var actions = Actions()
        state.withLock { state in
            guard let index = state.statements.firstIndex(where: { $0.id == id }) else { return }
            actions.answer.append((state.statements.remove(at: index).continuation, .failure(CancellationError())))
        }
        perform(actions)
    }

    /// Signals that a parked runner's connection died while it waited.
    private struct RunnerConnectionLost: Error {}

    /// A runner: holds a connection and runs waiting statements in batches until none is left and it is
    /// told to give the connection back.
    private func runStatements() async {
        let runner = state.withLock { state in
            state.nextRunnerID += 1
            return state.nextRunnerID
        }
        var failure: (any Error)?
        do {
            try await withConnection { connection in
                // The last batch's callers are answered once the runner has taken the next batch or parked,
                // so that an answered caller finds the pool settled.
                var answers = Actions()
                while true {
                    guard let batch = self.takeStatements(runner) else {
                        let go = await withCheckedContinuation { self.park(runner, $0, answering: answers) }
                        answers = Actions()
                        guard go else { return }
                        if !connection.isAliveWhileIdle() { throw RunnerConnectionLost() }
                        continue
                    }
                    self.perform(answers)
                    let outcomes = await Self.run(batch.map(\.query), on: connection)
                    answers = Actions()
                    answers.answer = zip(batch, outcomes).map { ($0.continuation, $1) }
                    self.state.withLock { _ = $0.batches.removeValue(forKey: runner) }
                    if !connection.isReusable {
                        self.perform(answers)
                        return
                    }
                }
            }
        } catch is RunnerConnectionLost {
        } catch {
            failure = error
        }
        var actions = Actions()
        state.withLock { state in
            state.runners -= 1
            state.batches[runner] = nil
            state.parked.removeAll { $0.id == runner }
            if let failure {
                // The runner got no connection (the database refused, or none came free in time): the
                // waiting statements get that error, as a caller waiting for a connection would.
                actions.answer = state.statements.map { ($0.continuation, .failure(failure)) }
                state.statements.removeAll()
            }
            dispatchStatements(&state, &actions)
        }
        perform(actions)
    }

    /// The statements waiting now (up to 64), marking the runner busy; nil when none waits.
    private func takeStatements(_ runner: Int) -> [QueuedStatement]? {
        state.withLock { state in
            guard !state.statements.isEmpty else { return nil }
            let count = min(state.statements.count, 64)
            let batch = Array(state.statements.prefix(count))
            state.statements.removeFirst(count)
            state.batches[runner] = .now
            return batch
        }
    }

    private func park(_ runner: Int, _ continuation: CheckedContinuation<Bool, Never>, answering answers: Actions) {
        var actions = answers
        state.withLock { state in
            if !state.statements.isEmpty {
                actions.wake.append((continuation, true))
            } else if state.closed || !state.waiters.isEmpty {
                actions.wake.append((continuation, false))
            } else {
                state.parked.append(ParkedRunner(id: runner, continuation: continuation, since: .now))
            }
        }
        perform(actions)
    }

    /// Runs a batch: one statement as it is, several in one pipeline. An error of the connection itself
    /// becomes every statement's outcome.
    private static func run(_ queries: [PostgresQuery], on connection: isolated PostgresConnection) async -> [Result<PostgresRows, any Error>] {
        if queries.count == 1 {
            do { return [.success(try await connection.query(queries[0]))] } catch { return [.failure(error)] }
        }
        do {
            var outcomes = try await connection.pipelineEach(queries).map { $0.mapError { $0 as any Error } }
            for index in outcomes.indices {
                // A prepared statement the schema invalidated: `query` prepares it again.
                if case .failure(let error as PostgresError) = outcomes[index], error.invalidatesPreparedStatement, connection.isReusable {
                    do { outcomes[index] = .success(try await connection.query(queries[index])) } catch { outcomes[index] = .failure(error) }
                }
            }
            return outcomes
        } catch {
            return Array(repeating: .failure(error), count: queries.count)
        }
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
            // Runners parked since the last round give their connections back, to be checked and counted
            // like any idle connection.
            for parked in state.parked where now - parked.since >= configuration.healthCheckInterval {
                actions.wake.append((parked.continuation, false))
            }
            state.parked.removeAll { now - $0.since >= configuration.healthCheckInterval }
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
            let closed = PostgresError(kind: .poolClosed, message: "the connection pool has been shut down")
            actions.answer = state.statements.map { ($0.continuation, .failure(closed)) }
            state.statements = []
            actions.wake = state.parked.map { ($0.continuation, false) }
            state.parked = []
        }
        for task in actions.cancelTimeouts { task.cancel() }
        for (continuation, result) in actions.resume { continuation.resume(with: result) }
        for (continuation, result) in actions.answer { continuation.resume(with: result) }
        for (continuation, go) in actions.wake { continuation.resume(returning: go) }
        for connection in actions.close { await connection.close() }
    }
}
