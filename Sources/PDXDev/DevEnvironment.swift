public import Foundation
public import LocalPostgres
public import Logging
public import Migrations
public import Postgres

/// The database `pdx dev` runs against: the one `DATABASE_URL` names, or a durable private cluster
/// under `./.pdx/` that it starts itself; migrated either way.
public struct DevEnvironment: Sendable {
    public struct Options: Sendable {
        /// An existing database; nil starts the private cluster.
        public var databaseURL: String?
        /// Where the private cluster lives.
        public var folder: URL
        /// Delete the private cluster first and start over.
        public var reset: Bool
        /// Also listen on 127.0.0.1 at this port.
        public var tcpPort: Int?

        public init(databaseURL: String?, folder: URL, reset: Bool = false, tcpPort: Int? = nil) {
            self.databaseURL = databaseURL
            self.folder = folder
            self.reset = reset
            self.tcpPort = tcpPort
        }
    }

    /// The name of the database `pdx dev` creates in its private cluster.
    public static let databaseName = "pdx"

    /// A ready database.
    public struct Ready: Sendable {
        public var configuration: PostgresConfiguration
        /// The private cluster, when pdx runs one.
        public var cluster: LocalPostgres?
        /// Whether this process started the private cluster (and so should stop it).
        public var startedCluster: Bool
        /// Migrations applied just now.
        public var applied: [Migration]
        public var totalMigrations: Int
        public var serverVersion: Int
    }

    public let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    public var cluster: LocalPostgres {
        LocalPostgres(directory: options.folder.appendingPathComponent("postgres"), profile: .dev,
                      port: options.tcpPort ?? 5432, listensOnTCP: options.tcpPort != nil)
    }

    /// Starts (or finds) the database, creates `pdx` in a private cluster, and applies pending migrations.
    public func prepare() async throws -> Ready {
        var configuration: PostgresConfiguration
        var local: LocalPostgres?
        var startedCluster = false
        if let url = options.databaseURL {
            configuration = PostgresConfiguration(connectionString: url)
        } else {
            let cluster = self.cluster
            if options.reset { try await cluster.destroy() }
            let endpoint = try await cluster.start()
            startedCluster = endpoint.startedNow
            local = cluster
            let admin = PostgresConfiguration(connectionString: endpoint.connectionString(database: "postgres"))
            try await Self.createDatabaseIfMissing(Self.databaseName, admin: admin)
            configuration = PostgresConfiguration(connectionString: endpoint.connectionString(database: Self.databaseName))
        }
        configuration.applicationName = "pdx dev"
        let migrator = try Migrator.embedded(logger: logger)
        let connection = try await PostgresConnection.connect(configuration: configuration, logger: logger)
        do {
            let applied = try await migrator.migrate(on: connection)
            let version = await connection.serverVersion
            await connection.close()
            return Ready(configuration: configuration, cluster: local, startedCluster: startedCluster, applied: applied,
                         totalMigrations: migrator.migrations.count, serverVersion: version)
        } catch {
            await connection.close()
            throw error
        }
    }

    static func createDatabaseIfMissing(_ name: String, admin: PostgresConfiguration) async throws {
        let connection = try await PostgresConnection.connect(configuration: admin)
        do {
            let exists = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)").count == 1
            if !exists { try await connection.execute("CREATE DATABASE \(identifier: name)") }
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }
}

