import Foundation
import PDXTestSupport
import Postgres
import Testing

@Suite struct QueryTests {
    @Test func interpolatedValuesAreBoundNotPasted() async throws {
        let query: PostgresQuery = "SELECT \(41) + 1 AS answer, \("pdx") AS name"
        #expect(query.sql == "SELECT $1 + 1 AS answer, $2 AS name")
        #expect(query.bindings.count == 2)
        try await withTestConnection { connection throws in
            let (answer, name) = try await connection.query(query)[0].decode(Int.self, String.self)
            #expect(answer == 42)
            #expect(name == "pdx")
        }
    }

    @Test func injectionPayloadsRoundTripAsData() async throws {
        let payloads = [
            "'); DROP TABLE victims; --",
            "\"; DROP TABLE victims; --",
            "$1 $$ $tag$ \\' \\\\ ''",
            "Robert'); DELETE FROM victims WHERE ('1'='1",
            "公共数据授权运营：实施机构、运营机构、需求方",
            "🚀👩‍💻🇨🇳 emoji and ZWJ sequences",
            "tab\tnewline\ncarriage\rbell\u{07}",
            "\u{FFFD}\u{10FFFF}\u{200B}",
        ]
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE victims (id serial PRIMARY KEY, body text NOT NULL)")
            for payload in payloads {
                try await connection.execute("INSERT INTO victims (body) VALUES (\(payload))")
            }
            let stored = try await connection.query("SELECT body FROM victims ORDER BY id").decode(String.self)
            #expect(stored == payloads)
            // The table is still there, and a payload used as a lookup key matches only itself.
            let matches = try await connection.query("SELECT count(*) FROM victims WHERE body = \(payloads[0])").scalar(Int.self)
            #expect(matches == 1)
            let none = try await connection.query("SELECT count(*) FROM victims WHERE body = \("' OR '1'='1")").scalar(Int.self)
            #expect(none == 0)
        }
    }

    @Test func stringWithNULIsRefusedBeforeReachingTheServer() async throws {
        try await withTestConnection { connection throws in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT \("a\u{0}b")")
            }
            #expect(error?.kind == .encoding)
            #expect(error?.message.contains("$1") == true)
            // The connection is fine afterwards.
            #expect(try await connection.query("SELECT 1").scalar(Int.self) == 1)
        }
    }

    @Test func identifiersAreQuoted() async throws {
        try await withTestConnection { connection throws in
            let table = "odd \"name\"; DROP TABLE x"
            try await connection.execute("CREATE TABLE \(identifier: table) (v int)")
            try await connection.execute("INSERT INTO \(identifier: table) VALUES (\(Int32(7)))")
            #expect(try await connection.query("SELECT v FROM \(identifier: table)").scalar(Int32.self) == 7)
        }
    }

    @Test func fragmentsCombineWithRenumberedParameters() async throws {
        var query: PostgresQuery = "SELECT count(*) FROM generate_series(1, \(100)) AS g WHERE g > \(10)"
        let extra: PostgresQuery = " AND g < \(20) AND g <> \(15)"
        query.append(extra)
        #expect(query.sql == "SELECT count(*) FROM generate_series(1, $1) AS g WHERE g > $2 AND g < $3 AND g <> $4")
        let nested: PostgresQuery = "SELECT \("a") || \(query.sql.isEmpty ? "" : "b")"
        #expect(nested.sql == "SELECT $1 || $2")
        try await withTestConnection { connection throws in
            #expect(try await connection.query(query).scalar(Int.self) == 8)
        }
    }

    @Test func affectedRowsAndCommandTags() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int8)")
            let inserted = try await connection.execute("INSERT INTO t SELECT generate_series(1, \(5))")
            #expect(inserted == 5)
            let rows = try await connection.query("UPDATE t SET n = n + 1 WHERE n > \(2)")
            #expect(rows.affectedRows == 3)
            #expect(rows.commandTag == "UPDATE 3")
            #expect(rows.isEmpty)
        }
    }

    @Test func preparedStatementsAreReusedAndSurviveSchemaChanges() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (a int8)")
            try await connection.execute("INSERT INTO t VALUES (1)")
            for _ in 0..<3 { #expect(try await connection.query("SELECT * FROM t").columns.count == 1) }
            let prepared = try await connection.query("SELECT count(*) FROM pg_prepared_statements").scalar(Int.self) ?? 0
            #expect(prepared >= 1)
            // A changed result type invalidates the cached plan; the client prepares it again.
            try await connection.execute("ALTER TABLE t ADD COLUMN b text")
            #expect(try await connection.query("SELECT * FROM t").columns.count == 2)
        }
    }

    @Test func oneConnectionServesManyConcurrentTasksInTurn() async throws {
        try await withTestConnection { connection throws in
            try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for i in 0..<100 {
                    group.addTask { (i, try await connection.query("SELECT \(i) * 3").scalar(Int.self) ?? -1) }
                }
                for try await (i, tripled) in group { #expect(tripled == i * 3) }
            }
        }
    }

    @Test func manyParametersKeepTheirValues() async throws {
        try await withTestConnection { connection throws in
            var query: PostgresQuery = "SELECT ARRAY["
            for i in 0..<1_000 {
                query.append(i == 0 ? "\(Int64(i))" : ", \(Int64(i))")
            }
            query.append("]::int8[]")
            let values = try await connection.query(query).scalar([Int64].self)
            #expect(values == (0..<1_000).map(Int64.init))
        }
    }
}
