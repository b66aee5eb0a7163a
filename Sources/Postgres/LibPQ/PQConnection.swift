import CLibPQ
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One libpq connection, driven non-blocking: commands are sent with `PQsend*`, output is flushed with
/// `PQflush`, and the thread waits in `poll(2)` on the socket (and on a wake-up pipe for cancellation).
/// Every result is drained to NULL before the next command.
///
/// Not thread-safe: exactly one thread uses it (a `PostgresConnection`'s own thread, or a listener's);
/// `@unchecked Sendable` only so that its owner's deinit may close it.
final class PQConnection: @unchecked Sendable {
    private(set) var handle: OpaquePointer?
    private var cancelHandle: OpaquePointer?
    let cancelSignal: CancelSignal
    private var statements: StatementCache
    /// Numbers commands, so a late cancellation never hits a later command.
    private var commandNumber: UInt64 = 0
    private var cancelSent = false
    /// A transaction's BEGIN not sent yet: it goes with the transaction's first statement, in the same round
    /// trip (`deferBegin`). Nil once sent, or taken back by `takeUnsentBegin` when the transaction ends
    /// having sent nothing.
    private var unsentBegin: String?
    /// The thread that connected; every later call must come from it (checked in debug builds).
    private var ownerThread: pthread_t?

    /// - Parameter wake: the wake-up pipe to poll beside the socket (a listener shares one across
    ///   reconnects); a new one by default.
    init(statementCacheCapacity: Int, wake: WakePipe? = nil) throws(PostgresError) {
        let pipe: WakePipe
        if let wake { pipe = wake } else { pipe = try WakePipe() }
        cancelSignal = CancelSignal(pipe: pipe)
        statements = StatementCache(capacity: statementCacheCapacity)
    }

    deinit { finish() }

    // MARK: Connecting

    /// Connects with libpq's non-blocking procedure, giving up at the timeout.
    func connect(_ configuration: PostgresConfiguration) throws(PostgresError) {
        finish()
        ownerThread = pthread_self()
        let deadline = ContinuousClock.now + configuration.connectTimeout
        // Settings before `dbname` are defaults the connection string may override; `client_encoding`
        // comes after it because this client decodes text as UTF-8.
        // A second `dbname` is taken as a plain database name, overriding the connection string's.
        // TCP keepalives (ignored on Unix sockets) notice a vanished server or network within about a minute.
        var settings: [(String, String)] = [
            ("application_name", configuration.applicationName),
            ("keepalives", "1"),
            ("keepalives_idle", "30"),
            ("keepalives_interval", "10"),
            ("keepalives_count", "3"),
            ("dbname", configuration.connectionString),
            ("client_encoding", "UTF8"),
        ]
        if let database = configuration.database { settings.append(("dbname", database)) }
        let connection: OpaquePointer? = withCStringArrays(settings) { keywords, values in
            PQconnectStartParams(keywords, values, 1)
        }
        guard let connection else {
            throw PostgresError(kind: .connectionFailed, message: "libpq could not allocate a connection")
        }
        handle = connection
        guard PQstatus(connection) != CONNECTION_BAD else {
            let message = errorMessage()
            finish()
            throw PostgresError(kind: .connectionFailed, message: message)
        }
        var state = PGRES_POLLING_WRITING
        while state != PGRES_POLLING_OK {
            if state == PGRES_POLLING_FAILED {
                let message = errorMessage()
                finish()
                throw PostgresError(kind: .connectionFailed, message: message)
            }
            let remaining = deadline - ContinuousClock.now
            let milliseconds = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
            if milliseconds <= 0 {
                finish()
                throw PostgresError(kind: .connectTimeout, message: "no connection within \(configuration.connectTimeout)")
            }
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, Int32(clamping: milliseconds))
            if ready < 0 && errno != EINTR {
                let reason = String(cString: strerror(errno))
                finish()
                throw PostgresError(kind: .connectionFailed, message: "poll failed while connecting: \(reason)")
            }
            if ready > 0 { state = PQconnectPoll(connection) }
        }
        guard PQsetnonblocking(connection, 1) == 0 else {
            let message = errorMessage()
            finish()
            throw PostgresError(kind: .connectionFailed, message: message)
        }
        cancelHandle = PQgetCancel(connection)
        // libpq copies the receiver into every result, and results may outlive the connection: the
        // receiver therefore needs no context.
        PQsetNoticeReceiver(connection, { _, result in
            guard let result, let text = PQresultErrorMessage(result) else { return }
            noticeLogger.debug("postgres notice", metadata: ["db.notice": "\(String(cString: text).trimmingWhitespace())"])
        }, nil)
        var sessionSettings = configuration.sessionSettings
        if let timeZone = configuration.sessionTimeZone { sessionSettings["TimeZone"] = timeZone }
        if !sessionSettings.isEmpty {
            var statements: [String] = []
            for (name, value) in sessionSettings.sorted(by: { $0.key < $1.key }) {
                statements.append("SET \(quoteIdentifier(name)) = \(quoteLiteral(value))")
            }
            let script = statements.joined(separator: "; ")
            do {
                try simpleQuery(script, command: nil)
            } catch {
                finish()
                throw PostgresError(kind: .connectionFailed, message: "could not apply the session settings (\(script)): \(error)")
            }
        }
    }

    /// Closes the connection (idempotent).
    func finish() {
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        cancelHandle = nil
        if let handle { PQfinish(handle) }
        handle = nil
        statements.removeAll()
        unsentBegin = nil
    }

    var isBroken: Bool {
        guard let handle else { return true }
        return PQstatus(handle) == CONNECTION_BAD
    }

    /// As libpq reports it, except that a transaction whose BEGIN waits for its first statement is in a
    /// transaction already.
    var transactionStatus: PostgresTransactionStatus {
        guard let handle else { return .unknown }
        if unsentBegin != nil { return .inTransaction }
        switch PQtransactionStatus(handle) {
        case PQTRANS_IDLE: return .idle
        case PQTRANS_ACTIVE: return .active
        case PQTRANS_INTRANS: return .inTransaction
        case PQTRANS_INERROR: return .failedTransaction
        default: return .unknown
        }
    }

    var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    var serverVersion: Int { handle.map { Int(PQserverVersion($0)) } ?? 0 }

    func errorMessage() -> String {
        guard let handle, let text = PQerrorMessage(handle) else { return "connection is closed" }
        let message = String(cString: text).trimmingWhitespace()
        return message.isEmpty ? "unknown libpq error" : message
    }

    private func connectionError() -> PostgresError {
        PostgresError(kind: .connectionClosed, message: errorMessage())
    }

    private func requireHandle() throws(PostgresError) -> OpaquePointer {
        guard let handle, PQstatus(handle) != CONNECTION_BAD else {
            throw PostgresError(kind: .connectionClosed, message: handle == nil ? "connection is closed" : errorMessage())
        }
        return handle
    }

    // MARK: Commands

    /// Starts numbering a new command and returns its number (for `CancelSignal.request`); the numbers
    /// also serve as cancellation-scope tokens, so the two never collide.
    func beginCommand() -> UInt64 {
        assertOwnerThread()
        commandNumber += 1
        cancelSent = false
        return commandNumber
    }

    private func assertOwnerThread() {
        assert(ownerThread.map { pthread_equal($0, pthread_self()) != 0 } ?? true, "libpq used off the connection's own thread")
    }

    /// Runs one statement with bound parameters, preparing and caching it on first use.
    func query(_ query: PostgresQuery, command: CancelTokens?) throws -> PostgresRows {
        assertOwnerThread()
        try validate(query)
        let handle = try requireHandle()
        if unsentBegin != nil {
            do {
                return try pipeline([query], command: command)[0]
            } catch var error as PostgresError {
                error.pipelineIndex = nil
                throw error
            }
        }
        if statements.isEnabled, let name = statements.lookup(query.sql, query.bindings) {
            let sent = query.bindings.withLibPQArrays { values, lengths, formats in
                PQsendQueryPrepared(handle, name.cString, Int32(query.bindings.count), values, lengths, formats, 1)
            }
            guard sent == 1 else { throw sendFailure() }
            do {
                return try collectResult(sql: query.sql, command: command)
            } catch let error as PostgresError where error.invalidatesPreparedStatement {
                // The statement is gone or its result type changed (a schema change): prepare it again,
                // transparently when no transaction was running.
                statements.remove(StatementCache.Key(sql: query.sql, types: query.bindings.types))
                guard transactionStatus == .idle else { throw error }
            }
        }
        do {
            return try pipeline([query], command: command)[0]
        } catch var error as PostgresError {
            error.pipelineIndex = nil
            throw error
        }
    }

    /// Refuses, before anything is sent, what libpq or this client cannot run as a bound statement.
    private func validate(_ query: PostgresQuery, index: Int? = nil) throws(PostgresError) {
        var problem = query.bindings.encodingError
        if problem == nil && query.bindings.count > 65_535 {
            problem = PostgresError(kind: .invalidUsage,
                                    message: "a statement takes at most 65535 parameters; this one has \(query.bindings.count)")
        }
        if problem == nil && startsWithCopy(query.sql) {
            problem = PostgresError(kind: .invalidUsage,
                                    message: "COPY FROM STDIN goes through copyFrom(table:columns:rows:); COPY TO STDOUT is not supported")
        }
        guard var problem else { return }
        problem.pipelineIndex = index
        throw problem.with(query: query.sql)
    }

    /// The error for a refused `PQsend*`: a dead connection, or a request libpq itself turned down.
    private func sendFailure() -> PostgresError {
        isBroken ? connectionError() : PostgresError(kind: .invalidUsage, message: errorMessage())
    }

    /// Runs statements in pipeline mode, in one round trip and one implicit transaction (unless a
    /// transaction is already open). On failure, the error's `pipelineIndex` names the failing statement.
    func pipeline(_ queries: [PostgresQuery], command: CancelTokens?) throws -> [PostgresRows] {
        for (index, query) in queries.enumerated() { try validate(query, index: index) }
        let handle = try requireHandle()
        guard PQenterPipelineMode(handle) == 1 else {
            throw PostgresError(kind: .invalidUsage, message: "could not enter pipeline mode: \(errorMessage())")
        }
        do {
            // A deferred BEGIN goes first, in the same round trip; the statements run inside its transaction
            // (the sync that ends the pipeline does not end an explicit one).
            guard let begin = unsentBegin else { return try runPipeline(queries, handle: handle, command: command) }
            unsentBegin = nil
            do {
                return Array(try runPipeline([PostgresQuery(unsafeSQL: begin)] + queries, handle: handle, command: command).dropFirst())
            } catch var error as PostgresError {
                error.pipelineIndex = error.pipelineIndex.flatMap { $0 == 0 ? nil : $0 - 1 }
                throw error
            }
        } catch {
            // Whatever went wrong, never hand out a connection still in pipeline mode.
            if let handle = self.handle, PQpipelineStatus(handle) != PQ_PIPELINE_OFF { finish() }
            throw error
        }
    }

    private func runPipeline(_ queries: [PostgresQuery], handle: OpaquePointer, command: CancelTokens?) throws -> [PostgresRows] {
        enum Step { case prepare(StatementCache.Key, query: Int), execute(query: Int, key: StatementCache.Key?) }
        var steps: [Step] = []
        var sent = true
        for (index, query) in queries.enumerated() {
            let key = StatementCache.Key(sql: query.sql, types: query.bindings.types)
            var name = statements.isEnabled ? statements.lookup(key) : nil
            if name == nil && statements.isEnabled && statements.hasRoom {
                let newName = statements.insert(key)
                steps.append(.prepare(key, query: index))
                sent = PQsendPrepare(handle, newName.cString, query.sql, Int32(key.types.count), key.types) == 1
                if !sent { break }
                name = newName
            }
            steps.append(.execute(query: index, key: name == nil ? nil : key))
            sent = query.bindings.withLibPQArrays { values, lengths, formats in
                if let name {
                    return PQsendQueryPrepared(handle, name.cString, Int32(query.bindings.count), values, lengths, formats, 1)
                }
                return PQsendQueryParams(handle, query.sql, Int32(query.bindings.count), key.types,
                                         values, lengths, formats, 1)
            } == 1
            if !sent { break }
        }
        if !sent || PQpipelineSync(handle) != 1 {
            let error = sendFailure()
            finish()
            throw error
        }

        var results: [PostgresRows] = []
        results.reserveCapacity(queries.count)
        var firstError: PostgresError?
        do {
            for step in steps {
                let outcome = try nextPipelineResult(command: command)
                switch (step, outcome) {
                case (.prepare, .success):
                    break
                case (.prepare(let key, let index), .failure(var error)):
                    statements.remove(key)
                    if firstError == nil { error.pipelineIndex = index; firstError = error.with(query: queries[index].sql) }
                case (.prepare(let key, _), .aborted):
                    statements.remove(key)
                case (.execute, .success(let rows)):
                    results.append(rows)
                case (.execute(let index, let key), .failure(var error)):
                    if let key, error.invalidatesPreparedStatement { statements.remove(key) }
                    if firstError == nil { error.pipelineIndex = index; firstError = error.with(query: queries[index].sql) }
                case (.execute, .aborted):
                    break
                }
            }
            try awaitPipelineSync(command: command)
        } catch {
            for case .prepare(let key, _) in steps { statements.remove(key) }
            throw error
        }
        guard PQexitPipelineMode(handle) == 1 else {
            throw PostgresError(kind: .protocolViolation, message: "could not leave pipeline mode: \(errorMessage())")
        }
        if let firstError {
            if firstError.code == .queryCanceled, cancelSent { throw CancellationError() }
            throw firstError
        }
        guard results.count == queries.count else {
            throw PostgresError(kind: .protocolViolation, message: "the pipeline returned \(results.count) results for \(queries.count) statements")
        }
        return results
    }

    /// Runs statements in pipeline mode, in one round trip, each in its own implicit transaction (a sync
    /// after each): one failing does not affect the others. Returns each statement's own outcome; throws
    /// only when the connection itself failed (then none of the outcomes is known). Must run outside a
    /// transaction.
    func pipelineEach(_ queries: [PostgresQuery], command: CancelTokens?) throws -> [Result<PostgresRows, PostgresError>] {
        try sendUnsentBegin(command: command)
        let handle = try requireHandle()
        var outcomes = [Result<PostgresRows, PostgresError>?](repeating: nil, count: queries.count)
        var sentIndexes: [Int] = []
        for (index, query) in queries.enumerated() {
            do throws(PostgresError) { try validate(query) } catch { outcomes[index] = .failure(error) }
            if outcomes[index] == nil { sentIndexes.append(index) }
        }
        guard !sentIndexes.isEmpty else { return outcomes.map { $0! } }
        guard PQenterPipelineMode(handle) == 1 else {
            throw PostgresError(kind: .invalidUsage, message: "could not enter pipeline mode: \(errorMessage())")
        }
        do {
            var prepared: [StatementCache.Key?] = []
            prepared.reserveCapacity(sentIndexes.count)
            for index in sentIndexes {
                let query = queries[index]
                let key = StatementCache.Key(sql: query.sql, types: query.bindings.types)
                var name = statements.isEnabled ? statements.lookup(key) : nil
                var preparing: StatementCache.Key?
                if name == nil && statements.isEnabled && statements.hasRoom {
                    let newName = statements.insert(key)
                    preparing = key
                    guard PQsendPrepare(handle, newName.cString, query.sql, Int32(key.types.count), key.types) == 1 else { throw sendFailure() }
                    name = newName
                }
                prepared.append(preparing)
                let sent = query.bindings.withLibPQArrays { values, lengths, formats in
                    if let name {
                        return PQsendQueryPrepared(handle, name.cString, Int32(query.bindings.count), values, lengths, formats, 1)
                    }
                    return PQsendQueryParams(handle, query.sql, Int32(query.bindings.count), key.types, values, lengths, formats, 1)
                } == 1
                guard sent, PQpipelineSync(handle) == 1 else { throw sendFailure() }
            }
            for (position, index) in sentIndexes.enumerated() {
                let key = StatementCache.Key(sql: queries[index].sql, types: queries[index].bindings.types)
                var outcome: Result<PostgresRows, PostgresError>?
                if let preparing = prepared[position] {
                    switch try nextPipelineResult(command: command) {
                    case .success: break
                    case .failure(let error): statements.remove(preparing); outcome = .failure(error.with(query: queries[index].sql))
                    case .aborted: statements.remove(preparing)
                    }
                }
                switch try nextPipelineResult(command: command) {
                case .success(let rows): outcome = outcome ?? .success(rows)
                case .failure(let error):
                    if error.invalidatesPreparedStatement { statements.remove(key) }
                    if error.code == .queryCanceled, cancelSent { throw CancellationError() }
                    outcome = outcome ?? .failure(error.with(query: queries[index].sql))
                case .aborted:
                    outcome = outcome ?? .failure(PostgresError(kind: .protocolViolation, message: "the statement was skipped", query: queries[index].sql))
                }
                try awaitPipelineSync(command: command)
                outcomes[index] = outcome
            }
        } catch {
            if let handle = self.handle, PQpipelineStatus(handle) != PQ_PIPELINE_OFF { finish() }
            throw error
        }
        guard PQexitPipelineMode(handle) == 1 else {
            finish()
            throw PostgresError(kind: .protocolViolation, message: "could not leave pipeline mode: \(errorMessage())")
        }
        if transactionStatus != .idle {
            // A statement opened a transaction and nothing after it closed it: what ran after it ran inside
            // it, and is rolled back with the connection, which its owner must now close.
            let opened = sentIndexes.last { index in
                guard case .success(let rows) = outcomes[index] else { return false }
                return rows.commandTag == "BEGIN" || rows.commandTag == "START TRANSACTION"
            }
            for index in sentIndexes where index > (opened ?? -1) {
                outcomes[index] = .failure(PostgresError(kind: .invalidUsage,
                    message: "an earlier statement in the same batch opened a transaction; this one was rolled back with it",
                    query: queries[index].sql))
            }
        }
        return outcomes.map { $0! }
    }

    private enum PipelineOutcome {
        case success(PostgresRows)
        case failure(PostgresError)
        case aborted
    }

    /// Reads one queued command's results, up to and including the NULL that ends them.
    private func nextPipelineResult(command: CancelTokens?) throws -> PipelineOutcome {
        var outcome: PipelineOutcome?
        while true {
            try awaitResult(command: command)
            guard let handle else { throw connectionError() }
            guard let result = PQgetResult(handle) else { break }
            let status = PQresultStatus(result)
            switch status {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                if outcome == nil { outcome = .success(PostgresRows(result: ResultBox(taking: result))) } else { PQclear(result) }
            case PGRES_PIPELINE_ABORTED:
                PQclear(result)
                if outcome == nil { outcome = .aborted }
            case PGRES_PIPELINE_SYNC:
                PQclear(result)
                throw PostgresError(kind: .protocolViolation, message: "pipeline ended before all its results arrived")
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                // A COPY that slipped past the check (hidden behind a comment): the protocol offers no clean
                // way out of it inside a pipeline, so give up the connection.
                PQclear(result)
                finish()
                throw PostgresError(kind: .invalidUsage, message: "COPY cannot run in a pipeline; the connection was closed")
            default:
                let error = makeError(result)
                PQclear(result)
                if case .failure = outcome {} else { outcome = .failure(error) }
                if isBroken { throw error }
            }
        }
        guard let outcome else { throw connectionError() }
        return outcome
    }

    private func awaitPipelineSync(command: CancelTokens?) throws {
        try awaitResult(command: command)
        guard let handle, let result = PQgetResult(handle) else { throw connectionError() }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_PIPELINE_SYNC else {
            throw PostgresError(kind: .protocolViolation, message: "expected the end of the pipeline")
        }
    }

    /// Runs SQL text with the simple protocol: several statements are allowed, parameters are not.
    /// Returns the first statement's result.
    @discardableResult
    func simpleQuery(_ sql: String, command: CancelTokens?) throws -> PostgresRows {
        try sendUnsentBegin(command: command)
        let handle = try requireHandle()
        guard PQsendQuery(handle, sql) == 1 else { throw sendFailure() }
        return try collectResult(sql: sql, command: command)
    }

    // MARK: Deferred BEGIN

    /// Opens a transaction with the next statement: `sql` (a BEGIN) is sent with it, in the same round trip.
    /// Commands that cannot carry it (scripts, COPY, savepoints) send it alone first.
    func deferBegin(_ sql: String) {
        unsentBegin = sql
    }

    /// The deferred BEGIN, taken back if it was never sent: the transaction ran no statement, and there is
    /// nothing to commit or roll back.
    func takeUnsentBegin() -> String? {
        defer { unsentBegin = nil }
        return unsentBegin
    }

    private func sendUnsentBegin(command: CancelTokens?) throws {
        guard let begin = unsentBegin else { return }
        unsentBegin = nil
        let handle = try requireHandle()
        guard PQsendQuery(handle, begin) == 1 else { throw sendFailure() }
        _ = try collectResult(sql: begin, command: command)
    }

    /// Reads every result of the command in flight until NULL; returns the first, throws the first error.
    private func collectResult(sql: String, command: CancelTokens?) throws -> PostgresRows {
        var rows: PostgresRows?
        var failure: PostgresError?
        while true {
            try awaitResult(command: command)
            guard let handle else { throw connectionError() }
            guard let result = PQgetResult(handle) else { break }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                if rows == nil { rows = PostgresRows(result: ResultBox(taking: result)) } else { PQclear(result) }
            case PGRES_COPY_IN:
                PQclear(result)
                _ = PQputCopyEnd(handle, "COPY FROM STDIN is only supported through copyFrom")
                failure = failure ?? PostgresError(kind: .invalidUsage, message: "use copyFrom(table:columns:) for COPY FROM STDIN")
            case PGRES_COPY_OUT:
                PQclear(result)
                try discardCopyOut(command: command)
                failure = failure ?? PostgresError(kind: .invalidUsage, message: "COPY TO STDOUT is not supported")
            default:
                let error = makeError(result)
                PQclear(result)
                failure = failure ?? error
            }
            if isBroken { break }
        }
        if var failure {
            if failure.code == .queryCanceled, cancelSent { throw CancellationError() }
            failure.query = sql
            throw failure
        }
        if isBroken { throw connectionError() }
        guard let rows else { throw PostgresError(kind: .protocolViolation, message: "the command returned no result", query: sql) }
        return rows
    }

    private func discardCopyOut(command: CancelTokens?) throws {
        guard let handle else { return }
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 1)
            if let buffer { PQfreemem(buffer) }
            if length == 0 { try wait(readable: true, writable: false, command: command); continue }
            if length < 0 { return }
        }
    }

    // MARK: COPY

    /// Streams rows to `COPY ... FROM STDIN (FORMAT binary)`; returns the number of rows copied.
    func copyIn(sql: String, columns: Int, command: CancelTokens?, rows: (PostgresCopyWriter) throws -> Void) throws -> Int {
        try sendUnsentBegin(command: command)
        let handle = try requireHandle()
        guard PQsendQueryParams(handle, sql, 0, nil, nil, nil, nil, 1) == 1 else { throw sendFailure() }
        try awaitResult(command: command)
        guard let start = PQgetResult(handle) else { throw connectionError() }
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            let error = makeError(start).with(query: sql)
            PQclear(start)
            _ = try? collectResult(sql: sql, command: command)
            throw error
        }
        PQclear(start)
        let writer = PostgresCopyWriter(columns: columns) { [unowned self] bytes in try self.putCopyData(bytes, command: command) }
        do {
            try rows(writer)
            try writer.finish()
            try putCopyEnd(error: nil, command: command)
        } catch {
            writer.close()
            try? putCopyEnd(error: "the client stopped the copy: \(error)", command: command)
            _ = try? collectResult(sql: sql, command: command)
            throw error
        }
        return try collectResult(sql: sql, command: command).affectedRows
    }

    private func putCopyData(_ bytes: UnsafeRawBufferPointer, command: CancelTokens?) throws {
        guard let handle else { throw connectionError() }
        while true {
            let sent = bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32(bytes.count)) }
            if sent == 1 { return }
            if sent < 0 { throw connectionError() }
            try wait(readable: false, writable: true, command: command)
            _ = PQflush(handle)
        }
    }

    private func putCopyEnd(error: String?, command: CancelTokens?) throws {
        guard let handle else { throw connectionError() }
        while true {
            let sent = PQputCopyEnd(handle, error)
            if sent == 1 { return }
            if sent < 0 { throw connectionError() }
            try wait(readable: false, writable: true, command: command)
            _ = PQflush(handle)
        }
    }

    // MARK: Notifications and liveness

    /// Notifications libpq has already read.
    func takeNotifications() -> [PostgresNotification] {
        guard let handle else { return [] }
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            let value = notify.pointee
            notifications.append(PostgresNotification(
                channel: String(cString: value.relname),
                payload: value.extra.map { String(cString: $0) } ?? "",
                backendPID: value.be_pid))
            PQfreemem(notify)
        }
        return notifications
    }

    /// Reads whatever the server sent while the connection sat idle, without blocking. False when the
    /// server closed the connection (a terminated backend, a restart).
    func isAliveWhileIdle() -> Bool {
        guard let handle, PQstatus(handle) != CONNECTION_BAD else { return false }
        // Read whatever is waiting: a terminated backend sends an error (which libpq hands to the notice
        // receiver) and then closes. Once something unsolicited has arrived, give the close a moment to
        // follow (the backend may still be exiting), so a dying connection is not lent out.
        var timeout: Int32 = 0
        for _ in 0..<8 {
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, timeout) > 0 else { break }
            if PQconsumeInput(handle) == 0 || PQstatus(handle) == CONNECTION_BAD { return false }
            timeout = 50
        }
        while PQisBusy(handle) == 0, let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_FATAL_ERROR { return false }
        }
        return PQstatus(handle) != CONNECTION_BAD
    }

    /// Waits for readability of the socket or the wake-up pipe, then consumes input; used by listeners.
    /// Returns false when the timeout passed with nothing to read.
    func waitForInput(timeoutMilliseconds: Int32) throws -> Bool {
        let handle = try requireHandle()
        var descriptors = [
            pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0),
            pollfd(fd: cancelSignal.pipe.readFD, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&descriptors, 2, timeoutMilliseconds)
        if ready < 0 && errno != EINTR {
            throw PostgresError(kind: .connectionClosed, message: "poll failed: \(String(cString: strerror(errno)))")
        }
        if descriptors[1].revents != 0 { cancelSignal.pipe.drain() }
        if descriptors[0].revents != 0 {
            if PQconsumeInput(handle) == 0 || PQstatus(handle) == CONNECTION_BAD { throw connectionError() }
            return true
        }
        return false
    }

    /// Waits only for a wake-up pipe (while disconnected); false when the timeout passed.
    static func waitForWakeUp(_ pipe: WakePipe, timeoutMilliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: pipe.readFD, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready > 0 { pipe.drain() }
        return ready > 0
    }

    // MARK: Waiting

    /// Flushes output and waits until a result can be read without blocking.
    private func awaitResult(command: CancelTokens?) throws {
        while true {
            guard let handle else { throw connectionError() }
            let flushed = PQflush(handle)
            if flushed < 0 { throw connectionError() }
            if flushed == 0 {
                if PQisBusy(handle) == 0 { return }
                // Read what already arrived before sleeping in poll: a fast server has often answered
                // by the time the query is sent, and one recv is cheaper than poll then recv.
                if PQconsumeInput(handle) == 0 { throw connectionError() }
                if PQisBusy(handle) == 0 { return }
            }
            try wait(readable: true, writable: flushed == 1, command: command)
        }
    }

    /// Blocks this thread in poll(2) until the socket is ready or the wake-up pipe fires; a wake-up with a
    /// cancellation for the current command sends the cancel request (once).
    private func wait(readable: Bool, writable: Bool, command: CancelTokens?) throws {
        assertOwnerThread()
        guard let handle else { throw connectionError() }
        var events: Int32 = 0
        if readable { events |= Int32(POLLIN) }
        if writable { events |= Int32(POLLOUT) }
        var descriptors = [
            pollfd(fd: PQsocket(handle), events: Int16(events), revents: 0),
            pollfd(fd: cancelSignal.pipe.readFD, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&descriptors, 2, -1)
        if ready < 0 {
            if errno == EINTR { return }
            throw PostgresError(kind: .connectionClosed, message: "poll failed: \(String(cString: strerror(errno)))")
        }
        if descriptors[1].revents != 0 {
            cancelSignal.pipe.drain()
            if let command, !cancelSent, cancelSignal.isRequested(command) {
                cancelSent = true
                sendCancel()
            }
        }
        if descriptors[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            if PQconsumeInput(handle) == 0 { throw connectionError() }
        }
    }

    /// Asks the server to cancel the running command (PQcancel opens a separate connection).
    private func sendCancel() {
        guard let cancelHandle else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancelHandle, &buffer, Int32(buffer.count))
    }

    // MARK: Errors

    func makeError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        guard let code = field(CPG_DIAG_SQLSTATE) else {
            let text = PQresultErrorMessage(result).map { String(cString: $0).trimmingWhitespace() } ?? ""
            return PostgresError(kind: isBroken ? .connectionClosed : .protocolViolation,
                                 message: text.isEmpty ? errorMessage() : text)
        }
        var error = PostgresError(kind: .server, code: SQLState(rawValue: code),
                                  message: field(CPG_DIAG_MESSAGE_PRIMARY) ?? "unknown error")
        error.severity = field(CPG_DIAG_SEVERITY_NONLOCALIZED) ?? field(CPG_DIAG_SEVERITY)
        error.detail = field(CPG_DIAG_MESSAGE_DETAIL)
        error.hint = field(CPG_DIAG_MESSAGE_HINT)
        error.position = field(CPG_DIAG_STATEMENT_POSITION).flatMap { Int($0) }
        error.context = field(CPG_DIAG_CONTEXT)
        error.schema = field(CPG_DIAG_SCHEMA_NAME)
        error.table = field(CPG_DIAG_TABLE_NAME)
        error.column = field(CPG_DIAG_COLUMN_NAME)
        error.dataType = field(CPG_DIAG_DATATYPE_NAME)
        error.constraint = field(CPG_DIAG_CONSTRAINT_NAME)
        error.routine = field(CPG_DIAG_SOURCE_FUNCTION)
        if error.code?.errorClass == "57" && error.code != .queryCanceled && isBroken { error.kind = .connectionClosed }
        return error
    }
}

/// Where server notices (NOTICE, WARNING) go, instead of libpq's default of printing them to stderr.
private let noticeLogger = Logger(label: "pdx.postgres.notice")

/// Whether SQL text starts with COPY, after whitespace and `--` comments.
func startsWithCopy(_ sql: String) -> Bool {
    var rest = Substring(sql)
    while true {
        rest = rest.drop(while: \.isWhitespace)
        guard rest.hasPrefix("--") else { break }
        rest = rest.drop(while: { $0 != "\n" })
    }
    return rest.prefix(4).uppercased() == "COPY" && (rest.dropFirst(4).first.map { !$0.isLetter && !$0.isNumber && $0 != "_" } ?? true)
}

/// How the connection stands with respect to transactions.
public enum PostgresTransactionStatus: Sendable {
    case idle, active, inTransaction, failedTransaction, unknown
}

extension PostgresError {
    func with(query sql: String) -> PostgresError {
        var copy = self
        copy.query = sql
        return copy
    }

    /// A cached prepared statement that must be prepared again: it is gone (DISCARD ALL, DEALLOCATE), or
    /// a schema change altered its result type (recognized by the server routine, whatever the language).
    var invalidatesPreparedStatement: Bool {
        code == .invalidSQLStatementName || (code == .featureNotSupported && routine == "RevalidateCachedQuery")
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}

/// Calls `body` with NULL-terminated C arrays of keywords and values.
private func withCStringArrays<R>(
    _ pairs: [(String, String)],
    _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) -> R
) -> R {
    var keywords = pairs.map { strdup($0.0) }
    var values = pairs.map { strdup($0.1) }
    keywords.append(nil)
    values.append(nil)
    defer {
        for pointer in keywords { free(pointer) }
        for pointer in values { free(pointer) }
    }
    let constKeywords = keywords.map { UnsafePointer($0) }
    let constValues = values.map { UnsafePointer($0) }
    return constKeywords.withUnsafeBufferPointer { k in
        constValues.withUnsafeBufferPointer { v in
            // Both buffers are non-empty (they end with NULL), so their base addresses exist.
            body(k.baseAddress.unsafelyUnwrapped, v.baseAddress.unsafelyUnwrapped)
        }
    }
}
