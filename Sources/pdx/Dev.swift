import ArgumentParser
import Foundation
import Logging
import PDXCommandLine
import PDXRuntime
import ServiceLifecycle
import UnixSignals

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run pdx on this machine: a private PostgreSQL under ./.pdx/, migrated and ready.",
        discussion: """
            Without DATABASE_URL, the first run creates a durable PostgreSQL cluster in ./.pdx/postgres and \
            later runs resume it with the same data. Ctrl-C stops pdx and that PostgreSQL cleanly. \
            With DATABASE_URL (or --database-url), pdx migrates and uses that database instead.

            Examples:
              swift run pdx dev
              swift run pdx dev --reset          # delete ./.pdx/postgres and start over
              swift run pdx dev --port 5433      # also listen on 127.0.0.1:5433
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

    @OptionGroup var log: LogOptions

    func validate() throws {
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
        let service = DevService(environment: environment, logger: logger, say: say)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}
