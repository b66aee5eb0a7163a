import Foundation
public import LocalPostgres
import Logging
import Migrations
public import Postgres

/// Real PostgreSQL for tests: a throwaway cluster started once per test process (or the server named by
/// `PDX_TEST_DATABASE_URL`), and a fresh database for each test, so tests run in parallel.
public enum TestDatabase {
    /// The admin connection string (database `postgres` or the URL's own) of the shared server.
    public static func adminConfiguration() async throws -> PostgresConfiguration {
        PostgresConfiguration(connectionString: try await server.value.connectionString)
    }

    /// The throwaway cluster, when tests started one (nil with `PDX_TEST_DATABASE_URL`).
    public static func localCluster() async throws -> LocalPostgres? { try await server.value.cluster }

    /// Creates an empty database, runs `body` with its configuration, then drops it.
    public static func withDatabase<R: Sendable>(
        _ body: (PostgresConfiguration) async throws -> R
    ) async throws -> R {
        let admin = try await adminConfiguration()
        let name = "pdx_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let connection = try await PostgresConnection.connect(configuration: admin)
        try await connection.execute("CREATE DATABASE \(identifier: name)")
        var configuration = admin
        configuration.database = name
        do {
            let result = try await body(configuration)
            try await connection.execute("DROP DATABASE \(identifier: name) WITH (FORCE)")
            await connection.close()
            return result
        } catch {
            _ = try? await connection.execute("DROP DATABASE \(identifier: name) WITH (FORCE)")
            await connection.close()
            throw error
        }
    }

    /// Creates a database with every migration applied, runs `body` with its configuration, then drops it.
    public static func withMigratedDatabase<R: Sendable>(
        _ body: (PostgresConfiguration) async throws -> R
    ) async throws -> R {
        try await withDatabase { configuration in
            try await withConnection(configuration) { connection in
                _ = try await Migrator.embedded(logger: Logger(label: "test")).migrate(on: connection)
            }
            return try await body(configuration)
        }
    }

    /// One connection string for a test database (what a user would put in DATABASE_URL).
    public static func connectionString(_ configuration: PostgresConfiguration) -> String {
        guard let database = configuration.database else { return configuration.connectionString }
        let base = configuration.connectionString
        if base.hasPrefix("postgres://") || base.hasPrefix("postgresql://") {
            // A URI: a dbname query parameter overrides the path's database.
            return base + (base.contains("?") ? "&" : "?") + "dbname=\(database)"
        }
        return base + " dbname='\(database)'"
    }

    private struct Server: Sendable {
        var connectionString: String
        var cluster: LocalPostgres?
    }

    private static let server = Task<Server, any Error> {
        if let url = ProcessInfo.processInfo.environment["PDX_TEST_DATABASE_URL"], !url.isEmpty {
            return Server(connectionString: url, cluster: nil)
        }
        let folder = URL(fileURLWithPath: "/tmp/pdx-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        let cluster = LocalPostgres(directory: folder, profile: .test)
        let endpoint = try await cluster.start()
        try cluster.removeWhenProcessExits(pid: getpid())
        return Server(connectionString: endpoint.connectionString(database: "postgres"), cluster: cluster)
    }
}
