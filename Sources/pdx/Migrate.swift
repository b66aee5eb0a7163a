import ArgumentParser
import Foundation
import Logging
import Migrations
import PDXCommandLine
import PDXBenchmarks
import PDXDev
import Postgres

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the SQL migrations built into this binary.",
        discussion: """
            The numbered files of sql/ are embedded at build time, so this works from any folder and in a \
            container that holds only the binary. Each pending file runs in its own transaction, under an \
            advisory lock (concurrent migrators are safe). A file changed after it was applied is refused.

            Examples:
              DATABASE_URL=postgresql://pdx@localhost/pdx pdx migrate
              pdx migrate --status --database-url "host=/run/postgresql dbname=pdx"
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "List applied and pending migrations instead of applying them.")
    var status = false

    @OptionGroup var log: LogOptions

    func run() async throws {
        log.bootstrap()
        let url = try database.required(hint: "`pdx dev` migrates its own database")
        let logger = Logger(label: "pdx.migrate")
        let migrator = try Migrator.embedded(logger: logger)
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConfiguration(connectionString: url, applicationName: "pdx migrate"), logger: logger)
        do {
            try await run(migrator, on: connection)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    private func run(_ migrator: Migrator, on connection: PostgresConnection) async throws {
        if status {
            let statuses = try await migrator.status(on: connection)
            for entry in statuses { say(Self.describe(entry)) }
            let pending = statuses.filter { $0.state == .pending }.count
            let applied = statuses.filter { if case .applied = $0.state { true } else { false } }.count
            say("\(applied) applied, \(pending) pending")
            if statuses.contains(where: { $0.state == .changed }) { throw ExitCode(2) }
        } else {
            let progress = ProgressLine("migrate")
            let applied = try await migrator.migrate(on: connection) { migration, position, pending in
                progress.update("\(position)/\(pending) \(migration.name)")
            }
            if !applied.isEmpty { progress.finish("applied \(applied.map(\.name).joined(separator: ", "))") }
            say(applied.isEmpty ? "the database is up to date (\(migrator.migrations.count) migrations)"
                                : "applied \(applied.count) of \(migrator.migrations.count) migrations")
        }
    }

    static func describe(_ status: Migrator.Status) -> String {
        let state: String
        switch status.state {
        case .applied(let at, let milliseconds): state = "applied \(at.formatted(.iso8601)) (\(milliseconds) ms)"
        case .pending: state = "pending"
        case .changed: state = "CHANGED since it was applied: restore the file and add a new one"
        case .unknown: state = "applied, unknown to this binary (a newer pdx applied it)"
        }
        return "\(status.name)  \(state)"
    }
}
