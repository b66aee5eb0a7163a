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
        try await withDatabase(template: nil, body)
    }

    /// Creates a database with every migration applied, runs `body` with its configuration, then drops it.
    /// The database is a copy of a template migrated once (`CREATE DATABASE … TEMPLATE`): a copy costs the
    /// server a fraction of applying every migration again, which, for the few hundred tests that start
    /// together, was most of the load that starved the timing-sensitive ones.
    public static func withMigratedDatabase<R: Sendable>(
        _ body: (PostgresConfiguration) async throws -> R
    ) async throws -> R {
        try await withDatabase(template: try await migratedTemplate.value, body)
    }

    /// Creates a database (a copy of `template`, else empty), runs `body` with its configuration, then drops it.
    static func withDatabase<R: Sendable>(template: String?, _ body: (PostgresConfiguration) async throws -> R) async throws -> R {
        let admin = try await adminConfiguration()
        let name = "pdx_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let connection = try await PostgresConnection.connect(configuration: admin)
        if let template {
            try await connection.execute("CREATE DATABASE \(identifier: name) TEMPLATE \(identifier: template)")
        } else {
            try await connection.execute("CREATE DATABASE \(identifier: name)")
        }
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

    /// A database with every embedded migration applied, that no test connects to: named after the
    /// migrations' text, so that a server shared between runs (`PDX_TEST_DATABASE_URL`) reuses it until
    /// a migration changes. Built under a temporary name and renamed when complete, so a run that dies
    /// half-way leaves no template behind that looks finished.
    private static let migratedTemplate = Task<String, any Error> {
        let migrations = try Migration.embedded()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over every file's name and text
        for byte in migrations.flatMap({ Array($0.name.utf8) + Array($0.sql.utf8) }) { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let name = "pdx_test_template_" + String(hash, radix: 16)
        let admin = try await adminConfiguration()
        return try await withConnection(admin) { connection in
            if try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)").count > 0 { return name }
            let building = name + "_" + UUID().uuidString.prefix(8).lowercased()
            try await connection.execute("CREATE DATABASE \(identifier: building)")
            var configuration = admin
            configuration.database = building
            try await withConnection(configuration) { migrating in
                _ = try await Migrator.embedded(logger: Logger(label: "test")).migrate(on: migrating)
            }
            do {
                try await connection.execute("ALTER DATABASE \(identifier: building) RENAME TO \(identifier: name)")
            } catch {
                // Another test process published the same template first.
                _ = try? await connection.execute("DROP DATABASE \(identifier: building) WITH (FORCE)")
                guard try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)").count > 0 else { throw error }
            }
            return name
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
