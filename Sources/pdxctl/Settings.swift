import ArgumentParser
import Foundation
import MarketStore
import PDXCommandLine

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "The market's settings: the notice period price increases wait for.",
        discussion: """
            Anything that can raise what a buyer pays (a pricing rule raised, added or retired, a product's \\
            revision at a higher price) takes effect only after the notice period: from 30 (the floor) to \\
            365 days. A change applies to what is announced from then on; what is announced keeps its time. \\
            Changes are audited with --actor and --reason.

            Examples:
              pdxctl settings show
              pdxctl settings set --price-notice-days 60 --reason "longer notice for 2027"
            """,
        subcommands: [Show.self, Set.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The settings in force.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let notice = try await withStore(database) { try await $0.priceNoticePeriod() }
            let days = Int((notice / 86_400).rounded())
            if json { return try printJSON(["price_notice_days": days]) }
            say("price notice: \(days) days (increases wait this long; decreases apply at once)")
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a setting.")
        @Option(help: ArgumentHelp("Days a price increase waits before it takes effect (30 to 365).", valueName: "days"))
        var priceNoticeDays: Int
        @OptionGroup var change: ChangeOptions
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard MarketStore.noticeDays.contains(priceNoticeDays) else {
                throw ValidationError("--price-notice-days must be from \(MarketStore.noticeDays.lowerBound) to \(MarketStore.noticeDays.upperBound), got \(priceNoticeDays)")
            }
        }

        func run() async throws {
            try await withStore(database) { try await $0.setPriceNoticePeriod(days: priceNoticeDays, author: change.actor, reason: change.reason) }
            say("price notice: \(priceNoticeDays) days, for changes announced from now on")
        }
    }
}
