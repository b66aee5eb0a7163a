import Foundation
import Logging
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Synchronization
import Testing
import MarketJobs

@Suite struct SeedTests {
    @Test func theDemoMarketLoadsOnceThroughTheStore() async throws {
        try await withMarket { market in
            let loaded = try #require(try await DemoMarket.load(into: market.store))
            #expect(loaded.parties.count == 8 && loaded.products.count == 6 && loaded.demands.count == 6)
            for id in loaded.products.values { #expect(try await market.store.product(id).state == .listed) }
            // The hospital data is important and personal: its product is sandbox-only, after de-identification.
            #expect(try await market.store.product(loaded.products["clinic_load"]!).current.deliveryModes == [.sandbox])
            let single = try await market.pool.query("SELECT count(*) FROM authorizations WHERE mode = 'single'").scalar(Int.self)
            #expect(single == 1)
            #expect(try await jobs(market.pool, kind: MatchDemandJob.kind).count == 6)
            // Loading again changes nothing.
            let before = try await market.pool.query("SELECT count(*) FROM audit_events").scalar(Int.self)
            #expect(try await DemoMarket.load(into: market.store) == nil)
            #expect(try await market.pool.query("SELECT count(*) FROM audit_events").scalar(Int.self) == before)
        }
    }

    @Test func aSyntheticMarketIsValidAndTheSameForTheSameSeed() async throws {
        func generate(seed: UInt64) async throws -> [String] {
            try await TestDatabase.withMigratedDatabase { configuration in
                let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2))
                let lines = Mutex<[String]>([])
                try await SyntheticMarket(products: 300, demands: 100, seed: seed).generate(on: pool) { line in lines.withLock { $0.append(line) } }
                #expect(lines.withLock { $0 }.contains("seeded 300/300 products"))
                #expect(try await pool.query("SELECT count(*) FROM products WHERE state = 'listed'").scalar(Int.self) == 300)
                #expect(try await pool.query("SELECT count(*) FROM product_versions WHERE frozen").scalar(Int.self) == 300)
                #expect(try await pool.query("SELECT count(*) FROM demands WHERE state = 'open'").scalar(Int.self) == 100)
                // Every product lies inside its authorization (rule 1), checked in SQL.
                let outside = try await pool.query("""
                    SELECT count(*) FROM products p
                    JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
                    JOIN authorizations a ON a.id = p.authorization_id
                    WHERE a.operator_id <> p.operator_id OR NOT (v.sector = ANY(a.sectors)) OR NOT (v.regions <@ a.regions)
                       OR NOT (v.scenarios <@ a.scenarios)
                    """).scalar(Int.self)
                #expect(outside == 0)
                // A seed is used once per database.
                await #expect(throws: MarketInputError.self) {
                    try await SyntheticMarket(products: 10, demands: 0, seed: seed).generate(on: pool) { _ in }
                }
                let sample = try await pool.query("""
                    (SELECT id::text || title FROM products JOIN product_versions ON product_id = id ORDER BY id LIMIT 5)
                    UNION ALL (SELECT id::text || title FROM demands ORDER BY id LIMIT 5)
                    """).decode(String.self)
                await pool.close()
                return sample
            }
        }
        let first = try await generate(seed: 42)
        #expect(first.count == 10)
        #expect(try await generate(seed: 42) == first)
        #expect(try await generate(seed: 43) != first)
    }
}
