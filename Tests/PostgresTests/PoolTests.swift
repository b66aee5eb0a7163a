import Foundation
import Logging
import PDXTestSupport
import Postgres
import Testing

@Suite struct PoolTests {
    @Test func twoHundredConcurrentQueriesThroughEightConnections() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            // A long acquire timeout: on a machine busy with the rest of the suite, the last of 200
            // waiters may wait a while; what counts is that all are served by at most eight backends.
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 8, acquireTimeout: .seconds(120)))
            let answers = try await withThrowingTaskGroup(of: (Int, Int, Int32).self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let row = try await pool.query("SELECT \(i) * 2, pg_backend_pid()")[0]
                        let (doubled, pid) = try row.decode(Int.self, Int32.self)
                        return (i, doubled, pid)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 200)
            #expect(answers.allSatisfy { $0.1 == $0.0 * 2 })
            #expect(Set(answers.map(\.0)).count == 200)
            let backends = Set(answers.map(\.2))
            #expect(backends.count <= 8)
            #expect(pool.statistics.total <= 8)
            await pool.close()
        }
    }

    @Test func recoversAfterEveryBackendIsTerminated() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 4))
            // Open several connections at once (all four unless the machine is very busy).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { _ = try await pool.withConnection { try await $0.execute("SELECT pg_sleep(1)") } } }
                try await group.waitForAll()
            }
            #expect(pool.statistics.idle >= 2)
            try await withConnection(configuration) { admin in
                try await admin.execute("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                    """)
                for _ in 0..<250 {
                    let others = try await admin.query("""
                        SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                        AND backend_type = 'client backend'
                        """).scalar(Int.self)
                    if others == 0 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            // A backend leaves pg_stat_activity in its exit hooks, a moment before the process exits and its
            // socket closes: until then an idle connection still looks alive (seen once in a full run).
            try await Task.sleep(for: .milliseconds(300))
            // Every idle connection is dead; each is noticed before it is lent, and replaced.
            for i in 0..<20 { #expect(try await pool.query("SELECT \(i)").scalar(Int.self) == i) }
            #expect(pool.statistics.total <= 4)
            await pool.close()
        }
    }

    @Test func connectionErrorsReachEveryWaiterAtOnce() async throws {
        var configuration = try await TestDatabase.adminConfiguration()
        configuration.database = "pool_database_that_does_not_exist"
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical  // every attempt fails by design; the warnings would only be noise
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 3, acquireTimeout: .seconds(30)), logger: quiet)
        let (errors, elapsed) = await measure {
            await withTaskGroup(of: (any Error)?.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        do { _ = try await pool.query("SELECT 1"); return nil } catch { return error }
                    }
                }
                return await group.reduce(into: [(any Error)?]()) { $0.append($1) }
            }
        }
        #expect(elapsed < .seconds(15), "waiters must not sit out the 30 s acquire timeout")
        #expect(errors.count == 10)
        for error in errors {
            let postgresError = try #require(error as? PostgresError)
            #expect(postgresError.message.contains("does not exist"))
        }
        await pool.close()
    }

    @Test func acquireTimesOutWhenEveryConnectionIsBusy() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1, acquireTimeout: .milliseconds(300)))
            // Open the connection first (a slow connect under load may itself outlast the short acquire
            // timeout; then try again), so the holder below takes it at once.
            for attempt in 1...20 {
                do { try await pool.execute("SELECT 1"); break } catch where attempt < 20 { continue }
            }
            // The holder says when it has the only connection, so a slow start under load cannot let
            // the probe below take the connection first.
            let (held, holding) = AsyncStream<Void>.makeStream()
            let holder = Task {
                defer { holding.finish() }
                try await pool.withConnection { connection in
                    holding.yield()
                    try await connection.execute("SELECT pg_sleep(10)")  // cancelled below
                }
            }
            var holds = false
            for await _ in held { holds = true; break }
            if !holds { try await holder.value }  // reports why the holder could not take the connection
            try #require(holds)
            let (error, elapsed) = await measure {
                await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
            }
            #expect(error?.kind == .poolTimeout)
            // Far below the holder's ten seconds (the bound leaves room for a loaded machine).
            #expect(elapsed < .seconds(8))
            holder.cancel()
            _ = await holder.result
            #expect(try await pool.query("SELECT 1").scalar(Int.self) == 1)
            await pool.close()
        }
    }

    @Test func aConnectionLeftInATransactionIsNeverReused() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1))
            let leaked = try await pool.withConnection { connection in
                try await connection.execute("BEGIN")
                try await connection.execute("CREATE TABLE half_done (n int)")
                return connection.backendPID
            }
            let next = try await pool.withConnection { connection in
                (connection.backendPID, connection.transactionStatus)
            }
            #expect(next.0 != leaked)
            #expect(next.1 == .idle)
            // The abandoned transaction was rolled back with its connection.
            #expect(try await pool.query("SELECT to_regclass('half_done') IS NULL").scalar(Bool.self) == true)
            await pool.close()
        }
    }

    @Test func cancellingTheTaskCancelsAQueryInsideALease() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1))
            let work = Task {
                try await pool.withConnection { connection in
                    _ = try await connection.query("SELECT 1")
                    try await connection.execute("SELECT pg_sleep(10)")
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            let (result, elapsed) = await measure {
                work.cancel()
                return await work.result
            }
            #expect(elapsed < .seconds(8), "cancelled, not waiting out the 10 s sleep")
            #expect(throws: CancellationError.self) { try result.get() }
            // The same connection serves the next lease.
            #expect(try await pool.query("SELECT 7").scalar(Int.self) == 7)
            #expect(pool.statistics.total == 1)
            await pool.close()
        }
    }

    @Test func cancelledWaiterLeavesThePoolConsistent() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1))
            // The holder keeps the only connection until the waiter has been cancelled (sleeps instead of these
            // signals let a loaded machine hand the connection to the waiter first).
            let release = try await holdConnection(of: pool)
            let waiter = Task { try await pool.query("SELECT 1") }
            for _ in 0..<1_000 where pool.statistics.waiting == 0 { try await Task.sleep(for: .milliseconds(10)) }
            // The statement, and a runner waiting for a connection to send it.
            #expect(pool.statistics.waiting >= 1)
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
            try await release()
            // A runner started for the waiter may take the connection back a moment later, then park.
            let settled = PostgresPool.Statistics(idle: 1, leased: 0, connecting: 0, waiting: 0)
            for _ in 0..<100 where pool.statistics != settled { try await Task.sleep(for: .milliseconds(20)) }
            #expect(pool.statistics == settled)
            await pool.close()
        }
    }

    @Test func idleConnectionsAboveTheMinimumCloseDespiteHealthChecks() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(
                connection: configuration, minConnections: 1, maxConnections: 4,
                idleTimeout: .seconds(1), healthCheckInterval: .milliseconds(100)))
            let runner = Task { try await pool.run() }
            // Four overlapping leases open four connections (at least two even on a loaded machine).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { _ = try await pool.withConnection { try await $0.execute("SELECT pg_sleep(1)") } } }
                try await group.waitForAll()
            }
            #expect(pool.statistics.total >= 2)
            for _ in 0..<300 where pool.statistics.total > 1 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(pool.statistics.total == 1)
            runner.cancel()
            try await runner.value
        }
    }

    @Test func runKeepsTheMinimumAndShutsDownGracefully() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(
                connection: configuration, minConnections: 2, maxConnections: 4, healthCheckInterval: .milliseconds(100)))
            let runner = Task { try await pool.run() }
            for _ in 0..<250 where pool.statistics.idle < 2 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(pool.statistics.idle == 2)
            runner.cancel()
            try await runner.value
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
            #expect(error?.kind == .poolClosed)
        }
    }
}

/// `query` and `execute` when every connection is busy: statements wait for runners that send them in
/// batches, each in its own transaction.
@Suite struct PoolStatementBatchTests {
    @Test func waitingStatementsShareConnectionsAndEachGetsItsOwnOutcome() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2, acquireTimeout: .seconds(120)))
            try await pool.execute("CREATE TABLE batch_log (n int PRIMARY KEY)")
            // 300 callers at once on two connections: every seventh divides by zero, every fifth inserts.
            let outcomes = try await withThrowingTaskGroup(of: (Int, Result<Int, PostgresError>).self) { group in
                for i in 0..<300 {
                    group.addTask {
                        do {
                            if i % 5 == 0 {
                                try await pool.execute("INSERT INTO batch_log VALUES (\(i))")
                                return (i, .success(i))
                            }
                            let divisor = i % 7 == 0 ? 0 : 1
                            return (i, .success(try await pool.query("SELECT \(i) / \(divisor)").scalar(Int.self) ?? -1))
                        } catch let error as PostgresError {
                            return (i, .failure(error))
                        }
                    }
                }
                return try await group.reduce(into: [Int: Result<Int, PostgresError>]()) { $0[$1.0] = $1.1 }
            }
            #expect(outcomes.count == 300)
            for (i, outcome) in outcomes {
                switch outcome {
                case .success(let value):
                    #expect(value == i)
                    #expect(i % 5 == 0 || i % 7 != 0)
                case .failure(let error):
                    #expect(i % 7 == 0 && i % 5 != 0, "only the divisions by zero fail, not \(i): \(error)")
                    #expect(error.code == "22012")
                    #expect(error.pipelineIndex == nil)
                }
            }
            // Each insert committed on its own, the failures beside them notwithstanding.
            #expect(try await pool.query("SELECT count(*) FROM batch_log").scalar(Int.self) == 60)
            #expect(pool.statistics.total <= 2)
            await pool.close()
        }
    }

    @Test func aSlowStatementLetsAnotherRunnerTakeTheStatementsBehindIt() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(
                connection: configuration, maxConnections: 3, statementRunners: 1, statementBatchPatience: .milliseconds(100)))
            // The pool has no connection yet, so the slow statement goes to a runner.
            // (A long statement, cancelled once measured: the bound below is against waiting for it, and beside the whole
            // suite on two cores a 4 s statement left too thin a margin.)
            let slow = Task { try await pool.execute("SELECT pg_sleep(60)") }
            try await withConnection(configuration) { admin in
                for _ in 0..<400 {
                    let sleeping = try await admin.query("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'").scalar(Int.self)
                    if sleeping == 1 { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            // Right behind it (the only connection is busy): within the patience, then after it.
            let (answers, elapsed) = try await measure {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for i in 0..<5 { group.addTask { try await pool.query("SELECT \(i)").scalar(Int.self) ?? -1 } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            #expect(answers.sorted() == [0, 1, 2, 3, 4])
            #expect(elapsed < .seconds(30), "answered by another runner, not after the 60 s statement")
            try await withConnection(configuration) { admin in
                try await admin.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_sleep(60)'")
            }
            await #expect(throws: PostgresError.self) { try await slow.value }
            await pool.close()
        }
    }

    @Test func aStatementThatOpensATransactionTakesItsBatchMatesWithItAndNothingLeaks() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1))
            try await pool.execute("CREATE TABLE batch_leak (n int)")
            // The only connection is held while three statements queue behind it, in this order (each queued before
            // the next is sent: sleeps between them let a loaded machine reorder them or run the first alone).
            let release = try await holdConnection(of: pool)
            // Waiting: the statements, and the one runner (maxConnections 1) waiting for the connection.
            func queued(_ count: Int) async throws {
                for _ in 0..<1_000 where pool.statistics.waiting < count { try await Task.sleep(for: .milliseconds(10)) }
                #expect(pool.statistics.waiting == count)
            }
            let begin = Task { try await pool.execute("BEGIN") }
            try await queued(2)
            let insert = Task { try await pool.execute("INSERT INTO batch_leak VALUES (1)") }
            try await queued(3)
            let select = Task { try await pool.query("SELECT 5").scalar(Int.self) }
            try await queued(4)
            try await release()
            _ = try await begin.value
            let insertError = await #expect(throws: PostgresError.self) { try await insert.value }
            #expect(insertError?.message.contains("opened a transaction") == true)
            await #expect(throws: PostgresError.self) { try await select.value }
            // The connection left in a transaction was closed; the insert was rolled back with it.
            #expect(try await pool.query("SELECT count(*) FROM batch_leak").scalar(Int.self) == 0)
            #expect(try await pool.withConnection { $0.transactionStatus } == .idle)
            await pool.close()
        }
    }

    @Test func aRunnerWhoseConnectionDiedWhileParkedIsReplacedWithoutFailingAStatement() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2))
            // On an empty pool the first statements go to runners, which then park holding their connections.
            try await parkRunners(pool, statements: 20)
            #expect(pool.statistics.leased == 0)
            #expect(pool.statistics.idle >= 1)
            try await withConnection(configuration) { admin in
                try await admin.execute("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                    """)
            }
            try await Task.sleep(for: .milliseconds(300))
            for i in 0..<10 { #expect(try await pool.query("SELECT \(i) + 1").scalar(Int.self) == i + 1) }
            await pool.close()
        }
    }

    @Test func closingThePoolAnswersWaitingStatementsAndReleasesParkedRunners() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            // Runners parked with their connections are let go by close.
            let parkedPool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2))
            try await parkRunners(parkedPool, statements: 20)
            #expect(parkedPool.statistics.idle >= 1)
            await parkedPool.close()
            for _ in 0..<100 where parkedPool.statistics.total > 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(parkedPool.statistics.total == 0)

            // A statement waiting behind a busy connection is answered at close. The holder keeps the connection until
            // told (a fixed sleep let a loaded machine finish it first, and the statement ran), and the pool closes once
            // the statement is queued.
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1))
            let (held, holding) = AsyncStream<Void>.makeStream()
            let (release, releasing) = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await pool.withConnection { connection in
                    holding.yield()
                    for await _ in release { break }
                    try await connection.execute("SELECT 1")
                }
            }
            for await _ in held { break }
            let waiting = Task { try await pool.query("SELECT 1") }
            for _ in 0..<3_000 where pool.statistics.waiting == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(pool.statistics.waiting >= 1, "the statement (and the runner that would send it) wait")
            await pool.close()
            let error = await #expect(throws: PostgresError.self) { try await waiting.value }
            #expect(error?.kind == .poolClosed)
            releasing.yield()
            _ = try await holder.value
            // The holder's connection closes as it comes back.
            for _ in 0..<100 where pool.statistics.total > 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(pool.statistics.total == 0)
        }
    }

    @Test func aLeaseTakesTheConnectionOfAParkedRunnerAtOnce() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1, acquireTimeout: .seconds(30)))
            // On the empty pool the statements go to a runner, which keeps the only connection, parked.
            try await parkRunners(pool, statements: 10)
            let (pid, elapsed) = try await measure { try await pool.withConnection { $0.backendPID } }
            #expect(pid != 0)
            #expect(elapsed < .seconds(5), "the parked runner gave its connection up, far before the 30 s acquire timeout")
            // And statements still run afterwards, on a runner again.
            #expect(try await pool.query("SELECT 41 + 1").scalar(Int.self) == 42)
            #expect(pool.statistics.total == 1)
            await pool.close()
        }
    }

    @Test func maintenanceTakesBackTheConnectionsOfIdleRunners() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(
                connection: configuration, maxConnections: 2, idleTimeout: .milliseconds(300), healthCheckInterval: .milliseconds(50)))
            let upkeep = Task { await pool.keepHealthy() }
            try await parkRunners(pool, statements: 20)
            for _ in 0..<250 where pool.statistics.total > 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(pool.statistics.total == 0, "runners gave their connections back, which then closed when idle")
            upkeep.cancel()
            await upkeep.value
            await pool.close()
        }
    }
}

extension PoolStatementBatchTests {
    @Test func statementsThatRefuseATransactionBlockRunInABatchToo() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 1))
            try await pool.execute("CREATE TABLE batch_vacuumed (n int)")
            let slow = Task { try await pool.execute("SELECT pg_sleep(0.5)") }
            try await Task.sleep(for: .milliseconds(200))
            let first = Task { try await pool.query("SELECT 1").scalar(Int.self) }
            try await Task.sleep(for: .milliseconds(50))
            let vacuum = Task { try await pool.execute("VACUUM batch_vacuumed") }
            try await Task.sleep(for: .milliseconds(50))
            let last = Task { try await pool.query("SELECT 2").scalar(Int.self) }
            _ = try await slow.value
            #expect(try await first.value == 1)
            _ = try await vacuum.value
            #expect(try await last.value == 2)
            await pool.close()
        }
    }
}

/// Runs `statements` statements at once on a pool that has no connection yet, so that they go to runners, and
/// waits until every runner has parked with its connection (one still connecting when the burst ends parks too).
private func parkRunners(_ pool: PostgresPool, statements: Int) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for i in 0..<statements { group.addTask { _ = try await pool.query("SELECT \(i)") } }
        try await group.waitForAll()
    }
    for _ in 0..<100 where pool.statistics.leased > 0 { try await Task.sleep(for: .milliseconds(20)) }
}

/// Takes a connection of `pool` and keeps it until the returned function is called (which waits until it is back):
/// statements sent meanwhile wait, in the order sent.
private func holdConnection(of pool: PostgresPool) async throws -> () async throws -> Void {
    let (held, holding) = AsyncStream<Void>.makeStream()
    let (release, releasing) = AsyncStream<Void>.makeStream()
    let holder = Task {
        try await pool.withConnection { connection in
            _ = try await connection.query("SELECT 1")
            holding.yield()
            for await _ in release { break }
        }
    }
    for await _ in held { break }
    return {
        releasing.yield()
        try await holder.value
    }
}
