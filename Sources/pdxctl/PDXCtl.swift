import ArgumentParser
import Foundation
import Logging
import Migrations
import PDXCommandLine
import Postgres

@main
struct PDXCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pdxctl",
        abstract: "Administer pdx: the database's state, the job queue, the fair-pricing rules, and matching.",
        discussion: "Uses DATABASE_URL or --database-url, like pdx.",
        version: "0.1.0",
        subcommands: [Status.self, QueueCommand.self, PricingCommand.self, RevenueCommand.self, ReportCommand.self, KeysCommand.self, PartiesCommand.self,
                      ApplicationsCommand.self, SectorsCommand.self, ScenariosCommand.self, MatchesCommand.self,
                      DemandCommand.self, ResourcesCommand.self, SettingsCommand.self, BillingCommand.self, SettlementCommand.self,
                      SigningKeysCommand.self, SandboxCommand.self]
    )
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether the database is reachable and its migrations current.",
        discussion: """
            Exit codes: 0 reachable and current; 1 unreachable or another error; 2 migrations pending or changed.

            Examples:
              pdxctl status
              pdxctl status --json | jq .pending
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Print JSON for scripts.")
    var json = false

    struct Report: Codable {
        var server: String
        var database: String
        var applied: [String]
        var pending: [String]
        var changed: [String]
        var unknown: [String]
        var current: Bool { pending.isEmpty && changed.isEmpty }
    }

    func run() async throws {
        bootstrapLogging(level: .warning)
        let url = try database.required()
        let connection = try await PostgresConnection.connect(configuration: .init(connectionString: url, applicationName: "pdxctl"))
        let report: Report
        do {
            report = try await Self.report(on: connection)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
        if json {
            try printJSON(report)
        } else {
            say("database:   \(report.database) on PostgreSQL \(report.server)")
            say("migrations: \(report.applied.count) applied, \(report.pending.count) pending" +
                (report.changed.isEmpty ? "" : ", \(report.changed.count) CHANGED (\(report.changed.joined(separator: ", ")))") +
                (report.unknown.isEmpty ? "" : ", \(report.unknown.count) unknown to this binary"))
            if !report.pending.isEmpty { say("run `pdx migrate` to apply: \(report.pending.joined(separator: ", "))") }
        }
        if !report.current { throw ExitCode(2) }
    }

    static func report(on connection: PostgresConnection) async throws -> Report {
        let database = try await connection.query("SELECT current_database()").scalar(String.self) ?? "?"
        let version = await connection.serverVersion
        let statuses = try await Migrator.embedded().status(on: connection)
        func names(_ keep: (Migrator.Status.State) -> Bool) -> [String] { statuses.filter { keep($0.state) }.map(\.name) }
        return Report(
            server: describePostgresVersion(version), database: database,
            applied: names { if case .applied = $0 { true } else { false } },
            pending: names { $0 == .pending }, changed: names { $0 == .changed }, unknown: names { $0 == .unknown })
    }
}
