import Foundation
import LocalPostgres
import Logging
import Market
import MarketStore
import Postgres

/// Runs a benchmark's `body` with a pool on `given` (DATABASE_URL), or on a throwaway durable cluster
/// under /tmp that is stopped afterwards (and removed when this process exits). The pool is closed either way.
func withBenchmarkDatabase<R: Sendable>(
    _ given: String?, name: String, maxConnections: Int, logger: Logger, say: @Sendable (String) -> Void,
    _ body: (PostgresPool, String) async throws -> R
) async throws -> R {
    var cluster: LocalPostgres?
    let url: String
    if let given {
        url = given
    } else {
        say("starting a durable PostgreSQL for the benchmark…")
        let local = LocalPostgres(directory: URL(fileURLWithPath: "/tmp/pdx-bench-\(name)-\(getpid())"), profile: .dev)
        url = try await local.start().connectionString(database: "postgres")
        try local.removeWhenProcessExits(pid: getpid())
        cluster = local
    }
    let pool = PostgresPool(configuration: .init(connection: PostgresConfiguration(connectionString: url, applicationName: "pdx bench \(name)"),
                                                 maxConnections: maxConnections), logger: logger)
    do {
        let result = try await body(pool, url)
        await pool.close()
        try await cluster?.stop()
        return result
    } catch {
        await pool.close()
        try? await cluster?.stop()
        throw error
    }
}

/// A duration in milliseconds.
func milliseconds(_ duration: Duration) -> Double { duration / .milliseconds(1) }

/// The `p` quantile of `values` (the nearest rank below), 0 for none.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

/// Registers a party of a benchmark's market in Shanghai, with a fresh valid credit code.
func benchmarkParty(_ store: MarketStore, _ kind: PartyKind, _ name: String, by admin: Actor) async throws -> Party {
    let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    let code = try CreditCode.completing("91310000" + String((0..<9).map { _ in alphabet.randomElement() ?? "0" })).value
    return try await store.registerParty(NewParty(kind: kind, name: name, creditCode: code, regionCode: "310000"), by: admin)
}
