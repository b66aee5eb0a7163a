import ArgumentParser
import Foundation
import MarketStore
import PDXCommandLine

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Reports the rules require.",
        subcommands: [Disclose.self]
    )

    struct Disclose: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disclosure",
            abstract: "What agencies and operators must publish for a year: caps, products and prices, revenue against allowance.",
            discussion: """
                Writes caps.csv, products.csv, revenue.csv and disclosure.json into --output.

                Example:
                  pdxctl report disclosure --year 2026 --output ./disclosure-2026
                """
        )
        @Option(help: ArgumentHelp("The year.", valueName: "year")) var year: Int
        @Option(help: ArgumentHelp("The folder to write (created if missing; default: ./disclosure-YEAR).", valueName: "folder")) var output: String?
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard (2000...2200).contains(year) else { throw ValidationError("--year must be from 2000 to 2200, got \(year)") }
        }

        func run() async throws {
            let disclosure = try await withStore(database) { try await $0.disclosure(year: year) }
            let folder = URL(fileURLWithPath: output ?? "disclosure-\(year)")
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for (name, text) in disclosure.csvFiles { try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8) }
                try jsonText(disclosure).write(to: folder.appendingPathComponent("disclosure.json"))
            } catch {
                throw CommandError("cannot write the report into \(folder.path): \(error.localizedDescription)")
            }
            say("wrote \(disclosure.caps.count) caps, \(disclosure.products.count) product versions and \(disclosure.revenue.count) operators' revenue to \(folder.path)")
        }
    }
}
