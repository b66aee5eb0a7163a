import Foundation
import LocalPostgres
public import Logging
import Postgres
public import ServiceLifecycle

/// `pdx dev` as a service: prepares the database, reports it, runs until Ctrl-C (or SIGTERM), then stops
/// the private cluster if it started it.
public struct DevService: Service {
    let environment: DevEnvironment
    let logger: Logger
    let say: @Sendable (String) -> Void

    public init(environment: DevEnvironment, logger: Logger, say: @escaping @Sendable (String) -> Void) {
        self.environment = environment
        self.logger = logger
        self.say = say
    }

    public func run() async throws {
        let location = environment.options.databaseURL == nil
            ? "a private PostgreSQL under \(environment.options.folder.path)/postgres" : "DATABASE_URL"
        say("pdx dev: preparing \(location)…")
        let ready = try await environment.prepare()
        if let cluster = ready.cluster {
            say("  PostgreSQL \(describePostgresVersion(ready.serverVersion)) \(ready.startedCluster ? "started" : "was already running") in \(cluster.directory.path)")
        } else {
            say("  PostgreSQL \(describePostgresVersion(ready.serverVersion)) reached through DATABASE_URL")
        }
        say("  migrations: \(ready.applied.count) applied now, \(ready.totalMigrations) in all")
        // Never echo DATABASE_URL: it may hold a password.
        say("  connect:    psql \(ready.cluster == nil ? "\"$DATABASE_URL\"" : "\"\(ready.configuration.connectionString)\"")")
        say("pdx dev is ready. Press Ctrl-C to stop\(ready.startedCluster ? " (PostgreSQL stops with it)" : "").")
        try? await gracefulShutdown()
        if ready.startedCluster, let cluster = ready.cluster {
            say("pdx dev: stopping PostgreSQL…")
            try await cluster.stop()
            say("pdx dev: stopped. Run it again to resume with the same data, or with --reset to start over.")
        }
    }
}
