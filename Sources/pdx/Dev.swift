import ArgumentParser
import Foundation
import Logging
import Metrics
import PDXCommandLine
import PDXBenchmarks
import PDXDev
import Prometheus
import ServiceLifecycle
import UnixSignals

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run pdx on this machine: a private PostgreSQL, the demo market, the API and workers in one process.",
        discussion: """
            Without DATABASE_URL, the first run creates a durable PostgreSQL cluster in ./.pdx/postgres and \
            later runs resume it with the same data. The demo market is loaded once; one demo API key per \
            role is printed (and kept in ./.pdx/demo-keys.json). The API listens on 127.0.0.1:8080 and \
            --workers workers match demand in this process. Ctrl-C stops everything cleanly, PostgreSQL \
            included. With DATABASE_URL (or --database-url), pdx migrates and uses that database instead.

            Examples:
              swift run pdx dev
              swift run pdx dev --reset          # delete ./.pdx/postgres and start over
              swift run pdx dev --api-port 9000 --workers 4
              swift run pdx dev --port 5433      # also let PostgreSQL listen on 127.0.0.1:5433
              DATABASE_URL=postgresql://me@db.example/pdx swift run pdx dev
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Folder for the private PostgreSQL.", valueName: "folder"))
    var dataDir: String = ".pdx"

    @Flag(help: "Delete the private PostgreSQL and its data first, then start over.")
    var reset = false

    @Option(help: ArgumentHelp("Also let the private PostgreSQL accept TCP connections on 127.0.0.1 at this port.", valueName: "port"))
    var port: Int?

    @Option(help: ArgumentHelp("Port of the HTTP API on 127.0.0.1 ('none': no API).", valueName: "port"))
    var apiPort: String = "8080"

    @Option(help: ArgumentHelp("Workers matching demand in this process.", valueName: "n"))
    var workers = 2

    @OptionGroup var log: LogOptions

    var apiPortNumber: Int? { apiPort == "none" ? nil : Int(apiPort) }

    func validate() throws {
        if apiPort != "none" {
            guard let number = Int(apiPort), (1...65_535).contains(number) else {
                throw ValidationError("--api-port must be a port from 1 to 65535 or 'none', got \(apiPort)")
            }
        }
        guard (0...32).contains(workers) else { throw ValidationError("--workers must be from 0 to 32, got \(workers)") }
        if reset && database.resolved != nil {
            throw ValidationError("--reset deletes the private PostgreSQL under \(dataDir); it does nothing with DATABASE_URL. Unset DATABASE_URL or drop --reset.")
        }
        if let port, !(1...65_535).contains(port) {
            throw ValidationError("--port must be between 1 and 65535, got \(port)")
        }
        if dataDir.isEmpty { throw ValidationError("--data-dir must not be empty") }
    }

    func run() async throws {
        log.bootstrap()
        let logger = Logger(label: "pdx.dev")
        let folder = URL(fileURLWithPath: dataDir, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        let environment = DevEnvironment(
            options: .init(databaseURL: database.resolved, folder: folder.standardizedFileURL, reset: reset, tcpPort: port),
            logger: logger)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let service = DevService(environment: environment, serving: .init(port: apiPortNumber, workers: workers, metrics: registry),
                                 logger: logger, say: say)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}
