import ArgumentParser
import Foundation
import MarketStore
import PDXCommandLine

struct RevenueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revenue",
        abstract: "Each operator's revenue against its maximum allowed revenue (最高准许收入) for a year.",
        discussion: """
            Revenue is what the operator's issued statements bill for the months of the year (adjustments \
            included; see pdxctl billing). Revenue above the allowance is reported as overage and deducted from \
            the next year's allowance; administrators also hear of it once through the admin webhook \
            (pdxctl settings admin-webhook) when a month's close takes an operator past it.

            Examples:
              pdxctl revenue --year 2026
              pdxctl revenue set --operator 5f1e… --year 2026 --allowance-fen 120000000 --reason "approved budget"
            """,
        subcommands: [Report.self, Set.self],
        defaultSubcommand: Report.self
    )

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "report", abstract: "The report (the default).")
        @Option(help: ArgumentHelp("The year (default: this year).", valueName: "year"))
        var year: Int = Calendar(identifier: .gregorian).component(.year, from: Date())
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard (2000...2200).contains(year) else { throw ValidationError("--year must be from 2000 to 2200, got \(year)") }
        }

        func run() async throws {
            let rows = try await withStore(database) { try await $0.revenueReport(year: year) }
            if json { return try printJSON(rows) }
            guard !rows.isEmpty else { return say("no operators") }
            func fen(_ value: Decimal?) -> String { value.map { "\($0)" } ?? "-" }
            printTable(["operator", "allowance", "deducted", "effective", "revenue", "overage"], rows.map { row in
                [row.name, fen(row.allowanceFen), fen(row.deductionFen), fen(row.effectiveAllowanceFen), fen(row.revenueFen), fen(row.overageFen)]
            })
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set an operator's allowance for a year.")
        @Option(help: ArgumentHelp("The operator.", valueName: "uuid")) var `operator`: String
        @Option(help: ArgumentHelp("The year.", valueName: "year")) var year: Int
        @Option(help: ArgumentHelp("The allowance in fen.", valueName: "fen")) var allowanceFen: Int64
        @OptionGroup var change: ChangeOptions
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard UUID(uuidString: `operator`) != nil else { throw ValidationError("--operator must be a UUID, got '\(`operator`)'") }
            guard (2000...2200).contains(year) else { throw ValidationError("--year must be from 2000 to 2200, got \(year)") }
            guard allowanceFen >= 0 else { throw ValidationError("--allowance-fen must not be negative") }
        }

        func run() async throws {
            guard let operatorID = UUID(uuidString: `operator`) else { throw ValidationError("--operator must be a UUID, got '\(`operator`)'") }
            try await withStore(database) { store in
                try await store.setRevenueAllowance(operator: operatorID, year: year, allowanceFen: allowanceFen,
                                                    author: change.actor, reason: change.reason)
            }
            say("allowance for \(year) set to \(allowanceFen) fen")
        }
    }
}
