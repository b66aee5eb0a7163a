import Foundation
import LocalPostgres
import Logging
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
