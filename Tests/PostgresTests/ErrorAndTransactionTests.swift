import Foundation
import PDXTestSupport
import Postgres
import Testing

@Suite struct ErrorTests {
    @Test func serverErrorsCarryTheirFields() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE parties (code text CONSTRAINT parties_code_key UNIQUE, region text CHECK (length(region) = 6))")
            try await connection.execute("INSERT INTO parties VALUES (\("91110000MA01"), \("110000"))")
            let duplicate = await #expect(throws: PostgresError.self) {
                try await connection.execute("INSERT INTO parties VALUES (\("91110000MA01"), \("110000"))")
            }
            #expect(duplicate?.kind == .server)
            #expect(duplicate?.code == .uniqueViolation)
            #expect(duplicate?.constraint == "parties_code_key")
            #expect(duplicate?.table == "parties")
            #expect(duplicate?.detail?.contains("91110000MA01") == true)
            // What a user may see carries no detail and no SQL; the debug form has both.
            #expect(duplicate?.description.contains("91110000MA01") == false)
            #expect(duplicate?.description.contains("INSERT") == false)
            #expect(duplicate?.description.contains("23505") == true)
            #expect(duplicate?.debugDescription.contains("91110000MA01") == true)
            #expect(duplicate?.debugDescription.contains("INSERT INTO parties") == true)

            // Several statements at once need executeScript; a bound query refuses them.
            let several = await #expect(throws: PostgresError.self) {
                try await connection.execute("CREATE TABLE t (a int NOT NULL); INSERT INTO t VALUES (NULL)")
            }
            #expect(several?.code == .syntaxError)

            try await connection.execute("CREATE TABLE t (a int NOT NULL)")
            let missing = await #expect(throws: PostgresError.self) { try await connection.execute("INSERT INTO t VALUES (NULL)") }
            #expect(missing?.code == .notNullViolation)
            #expect(missing?.column == "a")

            let hinted = await #expect(throws: PostgresError.self) { try await connection.query("SELECT nosuchcolumn FROM t") }
            #expect(hinted?.code == .undefinedColumn)
            #expect(hinted?.position != nil)

            let raised = await #expect(throws: PostgresError.self) {
                try await connection.executeScript(unsafeSQL: "DO $$ BEGIN RAISE EXCEPTION 'bad thing' USING HINT = 'do better', DETAIL = 'secret'; END $$")
            }
            #expect(raised?.hint == "do better")
            #expect(raised?.message == "bad thing")
            // Errors never leave the connection stuck.
            #expect(try await connection.query("SELECT 1").scalar(Int.self) == 1)
        }
    }
}

@Suite struct TransactionTests {
    @Test func commitsOnSuccessAndRollsBackOnThrow() async throws {
        struct Refused: Error {}
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE ledger (fen bigint NOT NULL)")
            try await connection.transaction { connection in
                try await connection.execute("INSERT INTO ledger VALUES (\(100))")
            }
            await #expect(throws: Refused.self) {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO ledger VALUES (\(200))")
                    throw Refused()
                }
            }
            await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO ledger VALUES (\(300))")
                    try await connection.execute("INSERT INTO ledger VALUES (NULL)")
                }
            }
            #expect(try await connection.query("SELECT sum(fen)::int8 FROM ledger").scalar(Int.self) == 100)
            #expect(await connection.transactionStatus == .idle)
        }
    }

    @Test func nestedTransactionsUseSavepoints() async throws {
        struct Inner: Error {}
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int)")
            _ = try await connection.transaction(isolation: .repeatableRead) { connection in
                try await connection.execute("INSERT INTO t VALUES (1)")
                try? await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (2)")
                    throw Inner()
                }
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (3)")
                }
            }
            let values: [Int32] = try await connection.query("SELECT n FROM t ORDER BY n").decode(Int32.self)
            #expect(values == [1, 3])
        }
    }

    @Test func isolationLevelAndReadOnlyAreApplied() async throws {
        try await withTestConnection { connection throws in
            let level = try await connection.transaction(isolation: .serializable, readOnly: true) { connection in
                try await connection.query("SELECT current_setting('transaction_isolation') || ' ' || current_setting('transaction_read_only')").scalar(String.self)
            }
            #expect(level == "serializable on")
        }
    }

    /// BEGIN waits for the body's first command and goes with it (PQConnection.deferBegin): every kind of
    /// first command still runs inside the transaction, and a body that runs none opens none.
    @Test func theFirstCommandOfEveryKindRunsInsideTheTransaction() async throws {
        struct Refused: Error {}
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int NOT NULL)")
            let firsts: [(String, @Sendable (isolated PostgresConnection) async throws -> Void)] = [
                ("execute", { try await $0.execute("INSERT INTO t VALUES (1)") }),
                ("pipeline", { _ = try await $0.pipeline(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]) }),
                ("script", { try await $0.executeScript(unsafeSQL: "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)") }),
                ("copy", { _ = try await $0.copyFrom(table: "t", columns: ["n"]) { try $0.appendRow(Int32(1)) } }),
                ("savepoint", { try await $0.transaction { _ = try await $0.execute("INSERT INTO t VALUES (1)") } }),
            ]
            for (name, first) in firsts {
                await #expect(throws: Refused.self, "\(name)") {
                    try await connection.transaction { connection in
                        try await first(connection)
                        #expect(try await connection.query("SELECT count(*)::int8 FROM t").scalar(Int64.self) ?? 0 > 0, "\(name)")
                        throw Refused()
                    }
                }
                #expect(try await connection.query("SELECT count(*)::int8 FROM t").scalar(Int64.self) == 0, "\(name) was rolled back")
                #expect(await connection.transactionStatus == .idle)
            }
            // Committed the same way.
            try await connection.transaction { connection in
                _ = try await connection.copyFrom(table: "t", columns: ["n"]) { try $0.appendRow(Int32(7)) }
            }
            #expect(try await connection.query("SELECT sum(n)::int8 FROM t").scalar(Int64.self) == 7)
        }
    }

    @Test func aBodyThatRunsNothingOpensNoTransaction() async throws {
        struct Refused: Error {}
        try await withTestConnection { connection throws in
            let status = try await connection.transaction { connection in connection.transactionStatus }
            #expect(status == .inTransaction, "inside, before any statement, it is a transaction")
            #expect(await connection.transactionStatus == .idle)
            await #expect(throws: Refused.self) {
                try await connection.transaction { _ in throw Refused() }
            }
            #expect(await connection.transactionStatus == .idle)
            // Cancelled before its first statement: nothing was sent, nothing is left open.
            let task = Task { try await connection.transaction { connection in
                try await Task.sleep(for: .seconds(30))
                try await connection.execute("SELECT 1")
            } }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(await connection.transactionStatus == .idle)
            // The backend saw no transaction: its next statement is in a transaction of its own.
            #expect(try await connection.query("SELECT 1").scalar(Int32.self) == 1)
            #expect(await connection.transactionStatus == .idle)
        }
    }

    @Test func aFailingFirstStatementRollsBackAndNamesItself() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int NOT NULL)")
            let refused = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (NULL)")
                }
            }
            #expect(refused?.code == .notNullViolation)
            #expect(refused?.pipelineIndex == nil, "a single statement's error names no pipeline position")
            #expect(await connection.transactionStatus == .idle)
            let second = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    _ = try await connection.pipeline(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (NULL)"])
                }
            }
            #expect(second?.pipelineIndex == 1, "counted among the caller's statements, not with the BEGIN")
            #expect(try await connection.query("SELECT count(*)::int8 FROM t").scalar(Int64.self) == 0)
            #expect(await connection.transactionStatus == .idle)
        }
    }

    @Test func serializationFailuresAreRetried() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 8))
            try await pool.execute("CREATE TABLE counter (n int8 NOT NULL)")
            try await pool.execute("INSERT INTO counter VALUES (0)")
            let attempts = AttemptCounter()
            let firstReads = AttemptCounter()
            // Eight read-modify-write transactions that all read before any writes: serializable makes
            // all but one fail on their first attempt, and the retries must still count to eight.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let tries = AttemptCounter()
                        try await pool.withRetryingTransaction(maxAttempts: 50) { connection in
                            attempts.increment()
                            let n = try await connection.query("SELECT n FROM counter").scalar(Int.self) ?? 0
                            tries.increment()
                            if tries.value == 1 {
                                firstReads.increment()
                                let deadline = ContinuousClock.now + .seconds(10)
                                while firstReads.value < 8, ContinuousClock.now < deadline {
                                    try await Task.sleep(for: .milliseconds(5))
                                }
                            }
                            try await connection.execute("UPDATE counter SET n = \(n + 1)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await pool.query("SELECT n FROM counter").scalar(Int.self) == 8)
            #expect(attempts.value > 8, "expected serialization failures to force retries")
            await pool.close()
        }
    }
}

final class AttemptCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
