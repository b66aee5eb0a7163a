import ArgumentParser
import Foundation
import Market
import MarketStore
import PDXCommandLine

struct DemandCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demand",
        abstract: "Look at demand requests.",
        discussion: """
            Examples:
              pdxctl demand gaps
              pdxctl demand gaps --sector transport --since 90d
              pdxctl demand gaps --agency 2b7e…
              pdxctl demand history 9a41…
            """,
        subcommands: [Gaps.self, History.self]
    )

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A demand's states, with when it entered each and the time it spent there (the current one: so far).")
        @Argument(help: "The demand's id.") var demand: String
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let id = try uuidArgument(demand, "demand")
            let stays = try await withStore(database) { store in
                _ = try await store.demandState(id)
                return try await store.demandHistory(id)
            }
            if json { return try printJSON(stays) }
            for stay in stays {
                say("\(stay.state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(formatDate(stay.enteredAt))  "
                    + (stay.leftAt == nil ? "now, for " : "for ") + formatAge(stay.seconds))
            }
        }
    }

    struct Gaps: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The demand that found no product, grouped by sector, scenario, regions and fields wanted: which public data to open next.",
            discussion: """
                Counts demands still open and demands that expired or were cancelled, that never had a match. \
                Each group says which hard rule no listed product (under an authorization in force) passes, in \
                matching's order: no listed product in sector, none in region, none with an accepted delivery \
                mode, none within budget (list price × quantity; public governance and welfare are free). It \
                also names the wanted fields that no listed product of the sector offers in those regions. \
                Groups with the most demands come first. --since counts demands posted since then. Exit codes: \
                0 done; 1 failed; 64 a bad argument.

                Examples:
                  pdxctl demand gaps
                  pdxctl demand gaps --sector transport --since 2026-01-01
                  pdxctl demand gaps --json | jq '.[] | select(.diagnosis == "none_in_region")'
                """)
        @OptionGroup var scope: ReportScopeOptions
        @Option(help: ArgumentHelp("Only the demand on this agency's board: inside the sectors and regions of its resources and grants.",
                                   valueName: "party")) var agency: String?
        @Option(help: ArgumentHelp("At most this many groups (1 to 1000).", valueName: "n")) var limit = 200
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard (1...1_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 1000, got \(limit)") }
        }

        func run() async throws {
            let since = try scope.sinceDate()
            let agencyID = try agency.map { try uuidArgument($0, "--agency") }
            let gaps = try await withReportStore(database) { store in
                if let agencyID, try await store.party(agencyID).kind != .agency {
                    throw ValidationError("--agency must name an agency, and \(agencyID.uuidString.lowercased()) is not one")
                }
                return try await store.demandGaps(since: since, sector: scope.sector, agency: agencyID, limit: limit)
            }
            if json { return try printJSON(gaps) }
            guard !gaps.isEmpty else {
                return say("every demand" + (since.map { " posted since " + formatDate($0) } ?? "") + (scope.sector.map { " in \($0)" } ?? "")
                           + " found a product")
            }
            let total = gaps.reduce(0) { $0 + $1.demands }
            say("\(total) demands found no product (open, or expired or cancelled without a match), in \(gaps.count) groups, most demanded first"
                + (gaps.count == limit ? " (the first \(limit) groups; raise --limit for more)" : "") + ".")
            var byDiagnosis: [GapDiagnosis: Int] = [:]
            for gap in gaps { for entry in gap.diagnoses { byDiagnosis[entry.diagnosis, default: 0] += entry.demands } }
            say("demands by diagnosis: " + GapDiagnosis.allCases.compactMap { diagnosis in
                byDiagnosis[diagnosis].map { "\(Self.short(diagnosis)) (\($0))" }
            }.joined(separator: ", "))
            for (index, gap) in gaps.enumerated() {
                say("")
                say("\(index + 1). \(gap.sector) \(gap.sectorName) · scenario \(gap.scenario) · regions \(gap.regions.joined(separator: ", "))")
                let states = [(gap.open, "open"), (gap.expired, "expired"), (gap.cancelled, "cancelled")].filter { $0.0 > 0 }
                    .map { "\($0.0) \($0.1)" }.joined(separator: ", ")
                say("   \(gap.demands) demand\(gap.demands == 1 ? "" : "s") from \(gap.demanders) demander\(gap.demanders == 1 ? "" : "s") (\(states)), "
                    + "budgets \(yuan(gap.totalBudgetFen)) in all, oldest posted \(formatDate(gap.oldest)) (\(formatAge(Date().timeIntervalSince(gap.oldest))) ago)")
                say("   wants: \(gap.fieldsWanted.joined(separator: ", "))")
                say("   why: \(Self.explain(gap))")
                if !gap.missingFields.isEmpty {
                    say("   open next: \(gap.missingFields.joined(separator: ", ")) (no listed \(gap.sector) product offers "
                        + "\(gap.missingFields.count == 1 ? "it" : "them") in \(gap.regions.joined(separator: ", ")))")
                }
                say("   e.g. " + gap.examples.map { truncate($0, 40) }.joined(separator: "; "))
            }
        }

        static func short(_ diagnosis: GapDiagnosis) -> String {
            diagnosis == .passesHardRules ? "passes the hard rules" : diagnosis.description
        }

        /// The group's diagnosis with the figures behind it.
        static func explain(_ gap: DemandGap) -> String {
            var text: String
            switch gap.diagnosis {
            case .noProductInSector: text = "no listed product in sector \(gap.sector)"
            case .noneInRegion: text = "none in region: \(gap.listedInSector) listed in \(gap.sector), none covering \(gap.regions.joined(separator: ", "))"
            case .noneWithDeliveryMode: text = "none with an accepted delivery mode among the \(gap.listedInRegion) listed in these regions"
            case .noneWithinBudget:
                text = "none within budget" + (gap.cheapestQuoteFen.map { ": the cheapest that fits otherwise costs \(yuan($0)) at list price" } ?? "")
            case .passesHardRules: text = gap.diagnosis.description
            }
            if gap.diagnoses.count > 1 {
                text += " (by demand: " + gap.diagnoses.map { "\(short($0.diagnosis)) \($0.demands)" }.joined(separator: ", ") + ")"
            }
            return text
        }
    }
}

func yuan(_ fen: Int64) -> String { String(format: "%.2f yuan", Double(fen) / 100) }
