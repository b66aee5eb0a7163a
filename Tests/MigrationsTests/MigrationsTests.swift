import Foundation
import Market
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

    /// The match keys' functions are never inlined; declared cheap, the planner read every live demand for a
    /// product's match instead of their key index (sql/0023_planner_costs.sql). A later `CREATE OR REPLACE`
    /// that omits `COST` would silently put them back at 100 (0024's keeps it).
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

    /// sql/0024_posting_costs.sql rebuilt the match keys' functions in PL/pgSQL. `demands_wanted_keys` and
    /// `catalogue.match_keys` hold what the SQL bodies gave, so the new bodies must give the very same arrays
    /// (order, duplicates and NULLs included) for every input, the malformed ones too: 3,000 drawn inputs
    /// against the old bodies, kept here verbatim.
    @Test func theMatchKeysFunctionsGiveWhatTheirSQLBodiesGave() async throws {
        try await withTestConnection { connection throws in
            _ = try await Migrator.embedded().migrate(on: connection)
            for definition in [
                """
                CREATE FUNCTION pg_temp.old_lineage(code text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT
                    RETURN CASE WHEN right(code, 4) = '0000' THEN ARRAY[code]
                                WHEN right(code, 2) = '00' OR substr(code, 3, 2) = '00' THEN ARRAY[code, left(code, 2) || '0000']
                                ELSE ARRAY[code, left(code, 4) || '00', left(code, 2) || '0000'] END
                """,
                """
                CREATE FUNCTION pg_temp.old_offered(sector text, regions text[], modes pdx_delivery_mode[]) RETURNS text[] LANGUAGE sql IMMUTABLE
                    RETURN ARRAY(SELECT DISTINCT k FROM (
                        SELECT sector || '/' || r || '/' || m::text AS k FROM unnest(regions) AS r, unnest(modes) AS m
                        UNION ALL
                        SELECT sector || '/^' || a || '/' || m::text FROM unnest(regions) AS r, unnest(pg_temp.old_lineage(r)) AS a, unnest(modes) AS m
                    ) AS keys ORDER BY k)
                """,
                """
                CREATE FUNCTION pg_temp.old_wanted(sector text, regions text[], modes pdx_delivery_mode[]) RETURNS text[] LANGUAGE sql IMMUTABLE
                    RETURN ARRAY(SELECT DISTINCT k FROM (
                        SELECT sector || '/' || a || '/' || m::text AS k FROM unnest(regions) AS r, unnest(pg_temp.old_lineage(r)) AS a, unnest(modes) AS m
                        UNION ALL
                        SELECT sector || '/^' || r || '/' || m::text FROM unnest(regions) AS r, unnest(modes) AS m
                    ) AS keys ORDER BY k)
                """,
            ] { try await connection.execute(PostgresQuery(unsafeSQL: definition)) }
            var random = SplitMix64(seed: 2024)
            func below(_ n: Int) -> Int { Int.random(in: 0..<n, using: &random) }
            func region() -> String? {
                let province = ["11", "31", "33", "44", "65"][below(5)]
                switch below(12) {
                case 0: return nil
                case 1, 2: return province + "0000"
                case 3, 4, 5: return province + ["01", "02"][below(2)] + "00"
                case 6: return province + "00" + ["01", "02"][below(2)]
                case 7: return "x" + province  // malformed: the functions do not validate
                default: return province + ["01", "02"][below(2)] + ["01", "02", "03"][below(3)]
                }
            }
            func literal(_ items: [String?]) -> String { "{" + items.map { $0 ?? "NULL" }.joined(separator: ",") + "}" }
            var sectors: [String?] = [], regions: [String?] = [], modes: [String?] = []
            for _ in 0..<3000 {
                sectors.append(below(40) == 0 ? nil : ["health", "transport", "a/b"][below(3)])
                regions.append(below(40) == 0 ? nil : literal((0..<below(6)).map { _ in region() }))
                let all: [String?] = ["api", "file", "sandbox", nil]
                modes.append(below(40) == 0 ? nil : literal((0..<below(4)).map { _ in all[below(below(8) == 0 ? 4 : 3)] }))
            }
            let (inputs, wantedDiffer, offeredDiffer, keys) = try await connection.query("""
                SELECT count(*)::int8,
                       count(*) FILTER (WHERE pdx_wanted_keys(s, r::text[], m::pdx_delivery_mode[])
                                        IS DISTINCT FROM pg_temp.old_wanted(s, r::text[], m::pdx_delivery_mode[]))::int8,
                       count(*) FILTER (WHERE pdx_offered_keys(s, r::text[], m::pdx_delivery_mode[])
                                        IS DISTINCT FROM pg_temp.old_offered(s, r::text[], m::pdx_delivery_mode[]))::int8,
                       sum(cardinality(pdx_wanted_keys(s, r::text[], m::pdx_delivery_mode[])))::int8
                FROM unnest(\(sectors), \(regions), \(modes)) AS i(s, r, m)
                """).decode(Int64.self, Int64.self, Int64.self, Int64.self).first ?? (Int64(0), Int64(0), Int64(0), Int64(0))
            #expect(inputs == 3000)
            #expect(wantedDiffer == 0)
            #expect(offeredDiffer == 0)
            #expect(keys > 10_000, "the drawn inputs produce keys: \(keys)")
            let district = try await connection.query("""
                SELECT pdx_wanted_keys('health', '{110101}', '{api}'), pdx_offered_keys('health', '{110101,110102}', '{api}')
                """).decode([String].self, [String].self).first
            #expect(district?.0 == ["health/110000/api", "health/110100/api", "health/110101/api", "health/^110101/api"])
            #expect(district?.1 == ["health/110101/api", "health/110102/api", "health/^110000/api", "health/^110100/api",
                                    "health/^110101/api", "health/^110102/api"])
        }
    }

    /// The region functions are inlined where they are used (sql/0024_posting_costs.sql: STRICT kept PostgreSQL
    /// from it, so each call planned the body again), and a NULL code still gives NULL.
    @Test func theRegionFunctionsAreInlinedAndStillNullForNull() async throws {
        try await withTestConnection { connection throws in
            _ = try await Migrator.embedded().migrate(on: connection)
            let plan = try await connection.query("""
                EXPLAIN (VERBOSE, COSTS OFF)
                SELECT pdx_region_span(c), pdx_region_lineage(c), pdx_region_code_ok(c) FROM unnest(\(["110000", "999999"])) AS c
                """).decode(String.self).joined(separator: "\n")
            #expect(!plan.contains("pdx_region"), "\(plan)")
            let null = try await connection.query("""
                SELECT pdx_region_span(NULL) IS NULL AND pdx_region_lineage(NULL) IS NULL AND pdx_region_code_ok(NULL) IS NULL
                """).scalar(Bool.self)
            #expect(null == true)
            let values = try await connection.query("""
                SELECT pdx_region_span(c)::text, pdx_region_lineage(c), pdx_region_code_ok(c)
                FROM unnest(\(["110000", "110100", "110101", "110001", "990000"])) WITH ORDINALITY AS u(c, n) ORDER BY n
                """).decode(String.self, [String].self, Bool.self)
            #expect(values.map(\.0) == ["[110000,120000)", "[110100,110200)", "[110101,110102)", "[110001,110002)", "[990000,1000000)"])
            #expect(values.map(\.1) == [["110000"], ["110100", "110000"], ["110101", "110100", "110000"], ["110001", "110000"], ["990000"]])
            #expect(values.map(\.2) == [true, true, true, true, false])
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
