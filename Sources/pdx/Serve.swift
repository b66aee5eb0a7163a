import ArgumentParser
import Foundation
import Logging
import MarketAPI
import MarketStore
import PDXCommandLine
import PDXRuntime
import Postgres
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the HTTP JSON API until SIGTERM or Ctrl-C.",
        discussion: """
            Answers /healthz (the process is alive), /readyz (the database is reachable and its migrations \
            current) and /v1 (authenticated with API keys from `pdxctl keys create`). Stateless: run as many \
            as needed behind a load balancer. The database must be migrated (`pdx migrate`).

            Examples:
              DATABASE_URL=postgresql://pdx@db/pdx pdx serve --port 8080
              pdx serve --host 0.0.0.0 --port 8080 --max-connections 20
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Port to listen on.", valueName: "port"))
    var port = 8080

    @Option(help: ArgumentHelp("Most database connections for requests.", valueName: "n"))
    var maxConnections = 16

    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        guard (1...1_000).contains(maxConnections) else { throw ValidationError("--max-connections must be from 1 to 1000, got \(maxConnections)") }
        guard !host.isEmpty else { throw ValidationError("--host must not be empty") }
        _ = try database.required(hint: "the API serves an existing, migrated database")
    }

    func run() async throws {
        log.bootstrap()
        let logger = Logger(label: "pdx.serve")
        var connection = PostgresConfiguration(connectionString: try database.required(), applicationName: "pdx serve")
        connection.connectTimeout = .seconds(5)
        let pool = PostgresPool(configuration: .init(connection: connection, maxConnections: maxConnections), logger: logger)
        let application = MarketAPI.application(store: MarketStore(pool: pool), host: host, port: port, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: pool),
                .init(service: application, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}
