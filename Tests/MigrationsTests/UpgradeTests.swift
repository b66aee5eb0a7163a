import Foundation
import Market
import Migrations
import PDXTestSupport
import Postgres
import Testing

/// The migrations of issue 13 (0013 onward) on a database that already holds a market written under the
/// older rules: nothing stored is lost, old rows that break a new bound still move through their life
/// cycles, and a clash the new rules reveal is named rather than half-applied.
@Suite struct UpgradeTests {
    /// Applies the embedded migrations numbered up to `last`.
    func migrate(_ connection: PostgresConnection, through last: Int) async throws {
        _ = try await Migrator(migrations: try Migration.embedded().filter { $0.version <= last }).migrate(on: connection)
    }

    func party(_ connection: PostgresConnection, _ kind: String) async throws -> UUID {
        let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
        let code = try CreditCode.completing("91310000" + String((0..<9).map { _ in alphabet.randomElement()! })).value
        return try #require(try await connection.query("""
            INSERT INTO parties (kind, name, credit_code, region_code) VALUES (\(kind)::pdx_party_kind, 'legacy', \(code), '310000') RETURNING id
            """).scalar(UUID.self))
    }

    @Test func oldRowsAboveTheNewBoundsAreKeptAndStillMove() async throws {
        try await withTestConnection { connection throws in
            try await migrate(connection, through: 12)
            let demander = try await party(connection, "demander")
            let demand = try #require(try await connection.query("""
                INSERT INTO demands (demander_id, title, sector, scenario, purpose, regions, fields_wanted, quantity, budget_fen, delivery_modes,
                                     expires_at, state)
                VALUES (\(demander), 'legacy', 'transport', 'logistics', 'industry_development', '{310000}', '{road_id}', 1, 9000000000000000000,
                        '{api}', now() + interval '1 day', 'open')
                RETURNING id
                """).scalar(UUID.self))
            try await connection.execute("INSERT INTO pricing_rules (kind) VALUES ('cap')")
            try await connection.execute("""
                INSERT INTO pricing_rule_versions (rule_id, version, parameters, region_code, effective_at, review_by, author, reason)
                VALUES (1, 1, '{"cap":{"maxUnitPriceFen":40}}', '310000', now(), now() + interval '1 year', 'li.wei', 'a cap for Shanghai')
                """)
            try await migrate(connection, through: .max)
            // Kept, and still moving: a CHECK would have refused this update of an over-bound row.
            #expect(try await connection.query("SELECT budget_fen FROM demands WHERE id = \(demand)").scalar(Int64.self) == 9_000_000_000_000_000_000)
            #expect(try await connection.execute("UPDATE demands SET state = 'cancelled' WHERE id = \(demand)") == 1)
            // A new write above the bound is refused, under the bound's name.
            await #expect {
                try await connection.execute("UPDATE demands SET budget_fen = 9000000000000000001 WHERE id = \(demand)")
            } throws: { ($0 as? PostgresError)?.constraint == "demands_budget_bounded" }
            // The rule version written before regions nested keeps its reach: that code only.
            #expect(try await connection.query("SELECT region_exact FROM pricing_rule_versions WHERE rule_id = 1").scalar(Bool.self) == true)
        }
    }

    @Test func singleOperatorGrantsThatOverlapOnlyAsAHierarchyAreNamed() async throws {
        try await withTestConnection { connection throws in
            try await migrate(connection, through: 13)
            let agency = try await party(connection, "agency")
            let first = try await party(connection, "operator"), second = try await party(connection, "operator")
            for (holder, region, mode) in [(first, "110000", "single"), (second, "110101", "multi")] {
                try await connection.execute("""
                    INSERT INTO authorizations (agency_id, operator_id, sectors, regions, scenarios, mode, validity)
                    VALUES (\(agency), \(holder), '{transport}', ARRAY[\(region)]::text[], '{logistics}', \(mode)::pdx_authorization_mode,
                            tstzrange(now(), now() + interval '1 year'))
                    """)
            }
            await #expect {
                try await migrate(connection, through: .max)
            } throws: { error in
                let message = (error as? PostgresError)?.message ?? "\(error)"
                return message.contains("overlap under single-operator mode") && message.contains("110000") && message.contains("110101")
            }
            // Nothing of the failed migration remains, and the market is as it was.
            #expect(try await connection.query("SELECT count(*) FROM authorizations").scalar(Int64.self) == 2)
            #expect(try await connection.query("SELECT max(version) FROM pdx_schema_migrations").scalar(Int.self) == 13)
        }
    }
}
