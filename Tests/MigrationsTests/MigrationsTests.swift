import Foundation
import Migrations
import PDXTestSupport
import Postgres
import Testing

private func migration(_ name: String, _ sql: String) throws -> Migration { try Migration(name: name, sql: sql) }

@Suite struct MigrationsTests {
    @Test func embeddedFilesAreTheFilesOfSqlFolder() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../sql").standardizedFileURL
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        let embedded = try Migration.embedded()
        #expect(embedded.map(\.name) == names)
        for migration in embedded {
            #expect(migration.sql == (try String(contentsOf: folder.appendingPathComponent(migration.name), encoding: .utf8)))
        }
        #expect(embedded.first?.name == "0001_extensions.sql")
    }

    @Test func embeddedMigrationsApplyOnceAndThenAreANoOp() async throws {
        try await withTestConnection { connection throws in
            let migrator = try Migrator.embedded()
            let first = try await migrator.migrate(on: connection)
            #expect(first.count == migrator.migrations.count)
            let second = try await migrator.migrate(on: connection)
            #expect(second.isEmpty)
            #expect(try await migrator.isCurrent(on: connection))
            let extensions = try await connection.query("SELECT extname FROM pg_extension WHERE extname IN ('pg_trgm', 'btree_gist') ORDER BY 1").decode(String.self)
            #expect(extensions == ["btree_gist", "pg_trgm"])
        }
    }

    /// The match keys' functions are never inlined and cost 60-120 µs a call; declared cheap, the planner read
    /// every live demand for a product's match instead of their key index (sql/0023_planner_costs.sql). A
    /// later `CREATE OR REPLACE` that omits `COST` would silently put them back at 100.
    @Test func theMatchKeysFunctionsAreDeclaredExpensive() async throws {
        try await withTestConnection { connection throws in
            _ = try await Migrator.embedded().migrate(on: connection)
            let costs = try await connection.query("""
                SELECT proname::text, procost::float8 FROM pg_proc WHERE proname IN ('pdx_wanted_keys', 'pdx_offered_keys') ORDER BY proname
                """).decode(String.self, Double.self)
            #expect(costs.map(\.0) == ["pdx_offered_keys", "pdx_wanted_keys"])
            #expect(costs.allSatisfy { $0.1 >= 1000 }, "\(costs)")
        }
    }

    @Test func concurrentMigratorsApplyEachFileOnce() async throws {
        let migrations = [
            try migration("0001_log.sql", "CREATE TABLE applied_log (n int); INSERT INTO applied_log VALUES (1); SELECT pg_sleep(0.3);"),
            try migration("0002_more.sql", "INSERT INTO applied_log VALUES (2);"),
        ]
        try await TestDatabase.withDatabase { configuration throws in
            let migrator = try Migrator(migrations: migrations)
            let results = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await withConnection(configuration) { try await migrator.migrate(on: $0).map(\.version) }
                    }
                }
                return try await group.reduce(into: [[Int]]()) { $0.append($1) }
            }
            #expect(results.filter { !$0.isEmpty } == [[1, 2]])
            try await withConnection(configuration) { connection in
                let log = try await connection.query("SELECT n FROM applied_log ORDER BY n").decode(Int32.self)
                #expect(log == [1, 2])
                let recorded = try await connection.query("SELECT version FROM pdx_schema_migrations ORDER BY 1").decode(Int.self)
                #expect(recorded == [1, 2])
            }
        }
    }

    @Test func aChangedAppliedFileIsRefusedAndNothingElseRuns() async throws {
        try await withTestConnection { connection throws in
            try await Migrator(migrations: [try migration("0001_a.sql", "CREATE TABLE a (n int);")]).migrate(on: connection)
            let changed = try Migrator(migrations: [
                try migration("0001_a.sql", "CREATE TABLE a (n bigint);"),
                try migration("0002_b.sql", "CREATE TABLE b (n int);"),
            ])
            let error = await #expect(throws: MigrationError.self) { try await changed.migrate(on: connection) }
            guard case .changedAfterApplying(let name, _, _) = error else { Issue.record("expected changedAfterApplying"); return }
            #expect(name == "0001_a.sql")
            #expect(error?.description.contains("new, higher-numbered file") == true)
            #expect(try await connection.query("SELECT to_regclass('b') IS NULL").scalar(Bool.self) == true)
            let status = try await changed.status(on: connection)
            #expect(status.map(\.state) == [.changed, .pending])
        }
    }

    @Test func aFailingFileRollsBackAloneAndStopsTheRun() async throws {
        try await withTestConnection { connection throws in
            let migrator = try Migrator(migrations: [
                try migration("0001_ok.sql", "CREATE TABLE ok (n int);"),
                try migration("0002_bad.sql", "CREATE TABLE half (n int); SELECT 1/0;"),
                try migration("0003_later.sql", "CREATE TABLE later (n int);"),
            ])
            let error = await #expect(throws: PostgresError.self) { try await migrator.migrate(on: connection) }
            #expect(error?.code == .divisionByZero)
            let tables = try await connection.query("""
                SELECT to_regclass('ok') IS NOT NULL, to_regclass('half') IS NULL, to_regclass('later') IS NULL
                """)[0].decode(Bool.self, Bool.self, Bool.self)
            #expect(tables == (true, true, true))
            #expect(try await migrator.status(on: connection).map(\.state.isApplied) == [true, false, false])
            // The lock was released: a fixed set of files applies.
            let fixed = try Migrator(migrations: [
                try migration("0001_ok.sql", "CREATE TABLE ok (n int);"),
                try migration("0002_bad.sql", "CREATE TABLE half (n int);"),
            ])
            #expect(try await fixed.migrate(on: connection).map(\.version) == [2])
        }
    }

    @Test func statusReportsAppliedPendingAndUnknown() async throws {
        try await withTestConnection { connection throws in
            let newer = try Migrator(migrations: [
                try migration("0001_a.sql", "SELECT 1;"), try migration("0002_b.sql", "SELECT 2;"), try migration("0003_c.sql", "SELECT 3;"),
            ])
            try await newer.migrate(on: connection)
            let older = try Migrator(migrations: [
                try migration("0001_a.sql", "SELECT 1;"), try migration("0002_b.sql", "SELECT 2;"), try migration("0004_d.sql", "SELECT 4;"),
            ])
            let status = try await older.status(on: connection)
            #expect(status.map(\.version) == [1, 2, 3, 4])
            #expect(status.map(\.state.isApplied) == [true, true, false, false])
            #expect(status[2].state == .unknown)
            #expect(status[3].state == .pending)
        }
    }

    @Test func fileNamesAndNumbersAreValidated() throws {
        #expect(throws: MigrationError.invalidFileName("schema.sql")) { try Migration(name: "schema.sql", sql: "") }
        #expect(throws: MigrationError.invalidFileName("0001.sql")) { try Migration(name: "0001.sql", sql: "") }
        #expect(throws: MigrationError.invalidFileName("0000_zero.sql")) { try Migration(name: "0000_zero.sql", sql: "") }
        #expect(throws: MigrationError.invalidFileName("0001_a.txt")) { try Migration(name: "0001_a.txt", sql: "") }
        #expect(try Migration(name: "0042_add_orders.sql", sql: "").version == 42)
        #expect(throws: MigrationError.duplicateVersion(1, "0001_a.sql", "0001_b.sql")) {
            try Migrator(migrations: [try Migration(name: "0001_a.sql", sql: ""), try Migration(name: "0001_b.sql", sql: "")])
        }
    }
}

extension Migrator.Status.State {
    var isApplied: Bool {
        if case .applied = self { return true }
        return false
    }
}
