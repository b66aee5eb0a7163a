public import Logging
import Synchronization

/// One connection to PostgreSQL.
///
/// The actor runs on its own OS thread, where libpq works non-blocking and waits in `poll(2)`: waiting for
/// the server never occupies a thread of Swift's cooperative pool. Closures that take the connection as an
/// `isolated` parameter (`transaction`, `PostgresPool.withConnection`) run on that thread too, so the
/// queries inside them involve no thread hops at all.
///
/// Cancelling the task that runs a query cancels the query on the server (`PQcancel`); the connection
/// stays usable.
public actor PostgresConnection {
    private nonisolated let thread: ConnectionThread
    private let pq: PQConnection
    private nonisolated let cancelSignal: CancelSignal
    private let configuration: PostgresConfiguration
    nonisolated let logger: Logger
    /// A number unique within the process, for logs.
    public nonisolated let id: Int

    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    private init(configuration: PostgresConfiguration, logger: Logger) throws(PostgresError) {
        let id = connectionIDs.add(1, ordering: .relaxed).newValue
        self.id = id
        var logger = logger
        logger[metadataKey: "db.connection"] = "\(id)"
        self.logger = logger
        self.configuration = configuration
        // The thread last: nothing after it may fail, or it would wait for jobs forever.
        self.pq = try PQConnection(statementCacheCapacity: configuration.statementCacheCapacity)
        self.cancelSignal = pq.cancelSignal
        self.thread = try ConnectionThread()
    }

    deinit {
        pq.finish()
        thread.stop()
    }

    /// Opens a connection, failing with the server's own message (wrong password, missing database) or
    /// with a timeout after `configuration.connectTimeout`.
    public static func connect(
        configuration: PostgresConfiguration,
        logger: Logger = Logger(label: "pdx.postgres")
    ) async throws -> PostgresConnection {
        let connection = try PostgresConnection(configuration: configuration, logger: logger)
        try await connection.open()
        return connection
    }

    private func open() throws(PostgresError) {
        try pq.connect(configuration)
        logger.debug("connected", metadata: ["db.backend_pid": "\(pq.backendPID)"])
    }

    /// Closes the connection. Later commands fail with a `connectionClosed` error.
    public func close() {
        pq.finish()
    }

    /// The server process serving this connection (as in `pg_stat_activity.pid`).
    public var backendPID: Int32 { pq.backendPID }

    /// The server's version as a number, such as 150018.
    public var serverVersion: Int { pq.serverVersion }

    public var transactionStatus: PostgresTransactionStatus { pq.transactionStatus }

    /// True when the connection is open and outside any transaction: safe to lend to someone else.
    public var isReusable: Bool { !pq.isBroken && pq.transactionStatus == .idle }

    public var isClosed: Bool { pq.isBroken }

    // MARK: Commands

    /// Runs one statement and returns its rows. The statement is prepared on first use and the prepared
    /// form reused afterwards (in one round trip either way).
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await cancellable { command in try pq.query(query, command: command) }
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await self.query(query).affectedRows
    }

    /// Runs statements in one round trip (libpq pipeline mode) and returns each one's rows.
    /// Outside a transaction they form one implicit transaction: if one fails, none takes effect, and the
    /// thrown error's `pipelineIndex` names the statement that failed.
    public func pipeline(_ queries: [PostgresQuery]) async throws -> [PostgresRows] {
        guard !queries.isEmpty else { return [] }
        return try await cancellable { command in try pq.pipeline(queries, command: command) }
    }

    /// Runs statements in one round trip, each in its own implicit transaction (libpq pipeline mode with a
    /// sync after each), and returns each one's outcome: one failing leaves the others alone. Throws only
    /// when the connection failed. Used by the pool to run waiting callers' statements together.
    func pipelineEach(_ queries: [PostgresQuery]) async throws -> [Result<PostgresRows, PostgresError>] {
        guard !queries.isEmpty else { return [] }
        return try await cancellable { command in try pq.pipelineEach(queries, command: command) }
    }

    /// False when the idle connection's backend went away (see `PQConnection.isAliveWhileIdle`).
    func isAliveWhileIdle() -> Bool { pq.isAliveWhileIdle() }

    /// Runs SQL text that may hold several statements, such as a migration file (simple protocol, no
    /// parameters). The name says what it is: never pass text that came from outside the program.
    public func executeScript(unsafeSQL sql: String) async throws {
        _ = try await cancellable { command in try pq.simpleQuery(sql, command: command) }
    }

    /// Bulk-inserts rows with `COPY table (columns) FROM STDIN` in binary format and returns the row count.
    ///
    /// ```swift
    /// try await connection.copyFrom(table: "tags", columns: ["id", "name"]) { writer in
    ///     for tag in tags { try writer.appendRow(tag.id, tag.name) }
    /// }
    /// ```
    @discardableResult
    public func copyFrom(
        table: String, schema: String? = nil, columns: [String],
        rows: @Sendable (PostgresCopyWriter) throws -> Void
    ) async throws -> Int {
        guard !columns.isEmpty else { throw PostgresError(kind: .invalidUsage, message: "COPY needs at least one column") }
        for name in [table] + columns + (schema.map { [$0] } ?? []) where name.isEmpty || name.utf8.contains(0) {
            throw PostgresError(kind: .invalidUsage, message: "table, schema and column names must be non-empty and free of NUL")
        }
        let target = (schema.map { quoteIdentifier($0) + "." } ?? "") + quoteIdentifier(table)
        let sql = "COPY \(target) (\(columns.map(quoteIdentifier).joined(separator: ", "))) FROM STDIN (FORMAT binary)"
        return try await cancellable { command in
            try pq.copyIn(sql: sql, columns: columns.count, command: command, rows: rows)
        }
    }

    /// Sends a notification with `pg_notify` (a NOTIFY inside a transaction is delivered at commit).
    public func notify(channel: String, payload: String = "") async throws {
        try await execute("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Round-trips a trivial statement: true when the server answered.
    public func ping() async -> Bool {
        guard pq.isAliveWhileIdle() else { return false }
        return (try? await query("SELECT 1")) != nil
    }

    /// Notifications received on this connection (after `LISTEN`), without waiting for more.
    /// For a stream of notifications that survives reconnects, use `PostgresListener`.
    public func receivedNotifications() -> [PostgresNotification] {
        _ = pq.isAliveWhileIdle()
        return pq.takeNotifications()
    }

    /// Runs `body` with this connection, isolated to it. Used by the pool.
    func lease<R: Sendable>(
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async -> (outcome: Result<R, any Error>?, reusable: Bool) {
        guard pq.isAliveWhileIdle() else { return (nil, false) }
        _ = pq.takeNotifications()
        do {
            let value = try await withCancellationScope(body)
            return (.success(value), isReusable)
        } catch {
            return (.failure(error), isReusable)
        }
    }

    /// The scope in force: the task that opened it (a pool lease or a transaction) and its token.
    /// While it lasts the connection belongs to that task and the tasks it starts: other tasks wait, so
    /// that nothing of theirs runs inside its transaction.
    private var scope: (task: Int, token: UInt64)?
    private var scopeWaiters: [CheckedContinuation<Void, Never>] = []

    /// The scope the current task runs in (its own, or the one of the task that started it), 0 for none.
    @TaskLocal private static var enclosingScope: UInt64 = 0

    /// Runs `body` with the connection to itself and under one cancellation handler for every command the
    /// current task issues in it, instead of one handler per command. Tasks it starts share the scope.
    func withCancellationScope<R: Sendable>(
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async throws -> R {
        if let scope, scope.token == Self.enclosingScope { return try await body(self) }
        await waitForOtherScopes()
        let token = pq.beginCommand()
        scope = (currentTask(), token)
        defer {
            scope = nil
            let waiters = scopeWaiters
            scopeWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        let signal = cancelSignal
        return try await Self.$enclosingScope.withValue(token) {
            try await withTaskCancellationHandler {
                try await self.runScope(body)
            } onCancel: {
                signal.request(token)
            }
        }
    }

    private func runScope<R: Sendable>(_ body: @Sendable (isolated PostgresConnection) async throws -> R) async throws -> R {
        try await body(self)
    }

    /// Waits while a scope that the current task is not part of holds the connection.
    private func waitForOtherScopes() async {
        while let scope, scope.token != Self.enclosingScope {
            await withCheckedContinuation { scopeWaiters.append($0) }
        }
    }

    /// Runs a command that the surrounding task's cancellation cancels on the server.
    private func cancellable<R>(_ body: (CancelTokens) throws -> R) async throws -> R {
        try Task.checkCancellation()
        if let scope, scope.token != Self.enclosingScope { await waitForOtherScopes() }
        let command = pq.beginCommand()
        if let scope, scope.task == currentTask() {
            // The scope's own task: its handler already covers the command.
            return try body(CancelTokens(command: command, scope: scope.token))
        }
        let signal = cancelSignal
        return try await withTaskCancellationHandler {
            // The explicit hop matters: Swift 6.3 runs this closure on the global executor although it is
            // statically isolated to the connection, and libpq must only ever run on the connection's thread.
            try await self.onOwnThread(CancelTokens(command: command), body)
        } onCancel: {
            signal.request(command)
        }
    }

    private func onOwnThread<R>(_ tokens: CancelTokens, _ body: (CancelTokens) throws -> R) async throws -> R {
        try body(tokens)
    }

    /// Opens a transaction with the next command: `sql` (a BEGIN) goes with it, in the same round trip.
    func deferBegin(_ sql: String) { pq.deferBegin(sql) }

    /// True when the deferred BEGIN was never sent (no command ran since): it is dropped, and there is no
    /// transaction to end.
    func takeUnsentBegin() -> Bool { pq.takeUnsentBegin() != nil }

    /// Runs a command that must complete even in a cancelled task (ROLLBACK after a cancelled body);
    /// returns its command tag.
    @discardableResult
    func uncancellable(_ sql: String) throws -> String {
        _ = pq.beginCommand()
        return try pq.simpleQuery(sql, command: nil).commandTag
    }
}

private let connectionIDs = Atomic<Int>(0)

/// Identifies the running task by its address, to tell the task that opened a scope from others.
/// (`UnsafeCurrentTask` wraps one task pointer; hashing it would cost more than the comparison it serves.)
private func currentTask() -> Int {
    withUnsafeCurrentTask { task in unsafeBitCast(task, to: Int.self) }
}
