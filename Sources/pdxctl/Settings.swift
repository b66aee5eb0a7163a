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
        subcommands: [Show.self, Set.self, AdminWebhook.self]
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

    struct AdminWebhook: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "admin-webhook",
            abstract: "Where administrators hear of an operator passing its maximum allowed revenue (revenue.over_allowance).",
            discussion: """
                Prints the new signing secret once (deliveries are signed as parties' webhooks are). --off turns it off.

                Examples:
                  pdxctl settings admin-webhook --url https://ops.example.gov.cn/pdx
                  pdxctl settings admin-webhook --off
                """)
        @Option(help: ArgumentHelp("The https URL.", valueName: "url")) var url: String?
        @Flag(help: "Turn it off.") var off = false
        @Flag(help: "Accept http and private addresses (development only).") var allowPrivateAddresses = false
        @OptionGroup var options: ActorOptions

        func validate() throws {
            guard (url == nil) == off else { throw ValidationError("give either --url or --off") }
        }

        func run() async throws {
            let policy = allowPrivateAddresses ? WebhookPolicy.development : WebhookPolicy()
            let secret = try await withStore(options.database) { store in
                try await store.setAdminWebhook(url: try await url.asyncMap { try await store.checkWebhook($0, policy: policy) }, author: options.actor)
            }
            if let secret { say("admin webhook set; its signing secret (shown once): \(secret)") } else { say("admin webhook off") }
        }
    }
}

