import Foundation
import PDXTestSupport
import Postgres
import Testing

@Suite struct PipelineTests {
    @Test func pipelineReturnsEachStatementsRows() async throws {
        try await withTestConnection { connection throws in
            let results = try await connection.pipeline([
                "SELECT \(1)::int8", "SELECT \("two")", "SELECT generate_series(1, \(3))",
            ])
            #expect(results.count == 3)
            #expect(try results[0].scalar(Int.self) == 1)
            #expect(try results[1].scalar(String.self) == "two")
            #expect(results[2].count == 3)
        }
    }

    @Test func divisionByZeroInTheMiddleNamesTheStatementAndUndoesTheBatch() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int8)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.pipeline([
                    "INSERT INTO t VALUES (\(1))",
                    "SELECT \(1) / \(0)",
                    "INSERT INTO t VALUES (\(3))",
                ])
            }
            #expect(error?.code == .divisionByZero)
            #expect(error?.pipelineIndex == 1)
            #expect(error?.description.contains("pipeline statement 1") == true)
            // One implicit transaction: the first insert was rolled back, the last never ran.
            #expect(try await connection.query("SELECT count(*) FROM t").scalar(Int.self) == 0)
            // The connection left pipeline mode cleanly.
            #expect(try await connection.pipeline(["INSERT INTO t VALUES (\(4))", "SELECT count(*) FROM t"])[1].scalar(Int.self) == 1)
            #expect(await connection.transactionStatus == .idle)
        }
    }

    @Test func syntaxErrorInAPreparedStatementIsReportedAtItsIndex() async throws {
        try await withTestConnection { connection throws in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.pipeline(["SELECT 1", "SELEKT 2"])
            }
            #expect(error?.code == .syntaxError)
            #expect(error?.pipelineIndex == 1)
            let after = try await connection.query("SELECT 2").scalar(Int.self)
            #expect(after == 2)
        }
    }
}

@Suite struct CopyTests {
    @Test func copyBulkInsertsRowsOfManyTypes() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("""
                CREATE TABLE items (id bigint, title text, price numeric, tags text[], seen timestamptz, flag bool, ref uuid)
                """)
            let base = Date(timeIntervalSince1970: 1_700_000_000)
            let ref = UUID()
            let copied = try await connection.copyFrom(
                table: "items", columns: ["id", "title", "price", "tags", "seen", "flag", "ref"]
            ) { writer in
                for i in 0..<20_000 {
                    try writer.appendRow(Int64(i), "产品 \(i)\t\"x\"\n", PostgresNumeric("\(i).25"), ["a", "b\(i)"],
                                         base.addingTimeInterval(Double(i)), i % 2 == 0, i == 7 ? ref : nil)
                }
            }
            #expect(copied == 20_000)
            let row = try await connection.query("SELECT title, price::text, tags, seen, flag, ref FROM items WHERE id = 7")[0]
            let (title, price, tags, seen, flag, storedRef) = try row.decode(String.self, String.self, [String].self, Date.self, Bool.self, UUID?.self)
            #expect(title == "产品 7\t\"x\"\n")
            #expect(price == "7.25")
            #expect(tags == ["a", "b7"])
            #expect(seen == base.addingTimeInterval(7))
            #expect(flag == false)
            #expect(storedRef == ref)
            #expect(try await connection.query("SELECT count(*) FROM items WHERE ref IS NULL").scalar(Int.self) == 19_999)
        }
    }

    @Test func aFailingCopyLeavesNothingAndTheConnectionUsable() async throws {
        struct Stop: Error {}
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE items (id bigint PRIMARY KEY)")
            await #expect(throws: Stop.self) {
                try await connection.copyFrom(table: "items", columns: ["id"]) { writer in
                    try writer.appendRow(Int64(1))
                    throw Stop()
                }
            }
            let duplicate = await #expect(throws: PostgresError.self) {
                try await connection.copyFrom(table: "items", columns: ["id"]) { writer in
                    try writer.appendRow(Int64(1))
                    try writer.appendRow(Int64(1))
                }
            }
            #expect(duplicate?.code == .uniqueViolation)
            let wrongType = await #expect(throws: PostgresError.self) {
                try await connection.copyFrom(table: "items", columns: ["id"]) { writer in try writer.appendRow(Int32(1)) }
            }
            #expect(wrongType?.kind == .server)
            #expect(try await connection.query("SELECT count(*) FROM items").scalar(Int.self) == 0)
        }
    }
}
