import Foundation
import PDXTestSupport
import Postgres
import Testing

/// What users do that a careless client turns into hangs, silent data loss or garbage.
@Suite struct RobustnessTests {
    @Test func copyThroughQueryIsRefusedAndTheConnectionStaysUsable() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int)")
            for sql: PostgresQuery in ["COPY t FROM STDIN", "  -- comment\n copy t TO STDOUT"] {
                let error = await #expect(throws: PostgresError.self) { try await connection.query(sql) }
                #expect(error?.kind == .invalidUsage)
            }
            let error = await #expect(throws: PostgresError.self) { try await connection.executeScript(unsafeSQL: "COPY t FROM STDIN") }
            #expect(error?.kind == .invalidUsage)
            let answer = try await connection.query("SELECT 1").scalar(Int.self)
            #expect(answer == 1)
        }
    }

    @Test func tooManyParametersIsAUsageErrorNotALostConnection() async throws {
        try await withTestConnection { connection throws in
            var query: PostgresQuery = "SELECT 0 = ANY(ARRAY["
            for i in 0..<70_000 { query.append(i == 0 ? "\(i)" : ",\(i)") }
            query.append("])")
            let error = await #expect(throws: PostgresError.self) { try await connection.query(query) }
            #expect(error?.kind == .invalidUsage)
            #expect(error?.message.contains("65535") == true)
            #expect(await connection.isReusable)
        }
    }

    @Test func pipelinesRecoverFromAStaleCachedPlan() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (a int)")
            _ = try await connection.pipeline(["SELECT * FROM t", "SELECT 1"])
            try await connection.execute("ALTER TABLE t ADD COLUMN b int")
            // The first pipeline after the change may fail with the stale plan; the next one must work.
            _ = try? await connection.pipeline(["SELECT * FROM t", "SELECT 1"])
            let results = try await connection.pipeline(["SELECT * FROM t", "SELECT 1"])
            #expect(results[0].columns.count == 2)
        }
    }

    @Test func sessionsRunInUTCSoTimestampsKeepTheirInstant() async throws {
        try await withTestConnection { connection throws in
            #expect(try await connection.query("SHOW TimeZone").scalar(String.self) == "UTC")
            try await connection.execute("CREATE TABLE t (at timestamp)")
            let instant = Date(timeIntervalSince1970: 1_764_200_000)
            try await connection.execute("INSERT INTO t VALUES (\(instant))")
            #expect(try await connection.query("SELECT at FROM t").scalar(Date.self) == instant)
            #expect(try await connection.query("SELECT \(Date.distantFuture)::timestamptz::text").scalar(String.self) == "infinity")
        }
    }

    /// JIT compiles plans on their estimated cost alone: pdx's short statements over large tables would pay
    /// its tens of milliseconds. Off unless a configuration asks for it; other settings leave it off.
    @Test func sessionsRunWithoutJITUnlessAskedAndOtherSettingsKeepItOff() async throws {
        try await TestDatabase.withDatabase { configuration in
            var custom = configuration
            custom.sessionSettings["synchronous_commit"] = "off"
            try await withConnection(custom) { connection throws in
                #expect(try await connection.query("SHOW jit").scalar(String.self) == "off")
                #expect(try await connection.query("SHOW synchronous_commit").scalar(String.self) == "off")
            }
            custom.sessionSettings["jit"] = "on"
            try await withConnection(custom) { connection throws in
                #expect(try await connection.query("SHOW jit").scalar(String.self) == "on")
            }
        }
    }

    @Test func numbersBeyondPostgresLimitsAreRefusedNotTrapped() {
        #expect(PostgresNumeric("1e-40000") == nil)
        #expect(PostgresNumeric(String(repeating: "9", count: 140_000)) == nil)
        #expect(PostgresNumeric("1e-16383") != nil)
    }

    @Test func userDefinedTypesDecodeAsTextOnlyWhenTheyAreText() async throws {
        try await withTestConnection { connection throws in
            try await connection.executeScript(unsafeSQL: """
                CREATE TYPE mood AS ENUM ('calm', 'busy');
                CREATE TYPE pair AS (a int, b text);
                """)
            #expect(try await connection.query("SELECT 'busy'::mood").scalar(String.self) == "busy")
            await #expect(throws: PostgresDecodingError.self) { try await connection.query("SELECT ROW(1, 'x')::pair").scalar(String.self) }
            await #expect(throws: PostgresDecodingError.self) {
                try await connection.query("SELECT ARRAY['calm', 'busy']::mood[]").scalar(String.self)
            }
        }
    }

    @Test func jsonColumnsDecodeIntoPlainSwiftProperties() async throws {
        struct Row: Decodable { var tags: [String]; var raw: String; var count: Int }
        try await withTestConnection { connection throws in
            let row = try await connection.query("""
                SELECT '["交通", "energy"]'::jsonb AS tags, '{"a": 1}'::jsonb AS raw, '3'::jsonb AS count
                """)[0].decode(as: Row.self)
            #expect(row.tags == ["交通", "energy"])
            #expect(row.raw == "{\"a\": 1}")
            #expect(row.count == 3)
        }
    }

    @Test func aCaughtErrorInsideATransactionIsNotReportedAsCommitted() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int PRIMARY KEY)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (1)")
                    _ = try? await connection.execute("INSERT INTO t VALUES (1)")  // fails, error swallowed
                }
            }
            #expect(error?.code == "25P02")
            #expect(try await connection.query("SELECT count(*) FROM t").scalar(Int.self) == 0)
            #expect(await connection.transactionStatus == .idle)
        }
    }

    @Test func retryingInsideAnOpenTransactionIsRefused() async throws {
        try await withTestConnection { connection throws in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try await connection.retryingTransaction { _ in 1 }
                }
            }
            #expect(error?.kind == .invalidUsage)
        }
    }

    @Test func transactionsOfDifferentTasksOnOneConnectionDoNotMix() async throws {
        struct Abandon: Error {}
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (who text)")
            let first = Task {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES ('first')")
                    try await Task.sleep(for: .milliseconds(300))
                    throw Abandon()
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            // Starts while the first transaction is open: it must wait, not become a savepoint inside it.
            let second = Task {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES ('second')")
                }
            }
            await #expect(throws: Abandon.self) { try await first.value }
            _ = try await second.value
            #expect(try await connection.query("SELECT who FROM t").decode(String.self) == ["second"])
        }
    }

    @Test func tasksStartedInsideATransactionShareIt() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int)")
            try await connection.transaction { connection in
                async let a: Int = connection.execute("INSERT INTO t VALUES (1)")
                async let b: Int = connection.execute("INSERT INTO t VALUES (2)")
                _ = try await (a, b)
                #expect(try await connection.query("SELECT count(*) FROM t").scalar(Int.self) == 2)
            }
            #expect(try await connection.query("SELECT count(*) FROM t").scalar(Int.self) == 2)
        }
    }
}
