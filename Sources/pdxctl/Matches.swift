import ArgumentParser
import Foundation
import Market
import MarketStore
import PDXCommandLine
import Postgres

struct MatchesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matches",
        abstract: "Watch matching: match rate, time to first match, acceptance; matches and their reasons; new matches live.",
        discussion: """
            --since takes a date (YYYY-MM-DD, midnight UTC), an RFC 3339 time, or a duration back from now \
            (such as 24h or 7d). Exit codes: 0 done; 1 failed or not found (the message says why); 64 a bad argument.

            Examples:
              pdxctl matches stats --since 7d
              pdxctl matches stats --sector transport --json
              pdxctl matches list --state proposed --sector transport --limit 20
              pdxctl matches list --demand 0c6b… --json | jq '.[].score'
              pdxctl matches show 5f1e…
              pdxctl matches watch
              pdxctl matches watch --changes --count 10 --json
            """,
        subcommands: [Stats.self, List.self, Show.self, Watch.self]
    )
}

/// `--since` and `--sector`, shared by the reports.
struct ReportScopeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Only since then: a date, an RFC 3339 time or a duration back from now (such as 7d).", valueName: "when"))
    var since: String?
    @Option(help: ArgumentHelp("Only this sector (a code such as transport).", valueName: "sector")) var sector: String?

    func validate() throws {
        _ = try sinceDate()
        if let sector { try checkSectorCode(sector) }
    }

    func sinceDate(now: Date = Date()) throws -> Date? {
        try since.map { try parseSince($0, option: "--since", now: now) }
    }
}

/// A date, an RFC 3339 time, or a duration with a unit (`90m`, `24h`, `7d`) counted back from `now`.
func parseSince(_ text: String, option: String, now: Date = Date()) throws -> Date {
    if let unit = text.last, "smhd".contains(unit), let duration = try? parseDuration(text, option: option) {
        return now - duration / .seconds(1)
    }
    if let date = try? parseTime(text, option: option) { return date }
    throw ValidationError("\(option) must be a date (YYYY-MM-DD), an RFC 3339 time or a duration back from now such as 24h or 7d, got '\(text)'")
}

/// The shape of a sector code (whether it exists is for the database to say).
func checkSectorCode(_ sector: String, option: String = "--sector") throws {
    guard sector.wholeMatch(of: /[a-z][a-z_]{1,39}/) != nil else {
        throw ValidationError("\(option) must be a sector code such as transport (lowercase letters and _), got '\(sector)'")
    }
}

func parseUUID(_ text: String?, option: String) throws -> UUID? {
    guard let text else { return nil }
    guard let id = UUID(uuidString: text) else { throw ValidationError("\(option) must be a UUID, got '\(text)'") }
    return id
}

/// Runs a store call, turning an unknown sector or limit the store refuses into an error that names the option.
func withReportStore<R: Sendable>(_ options: DatabaseOptions, _ body: (MarketStore) async throws -> R) async throws -> R {
    do {
        return try await withStore(options, body)
    } catch let error as MarketInputError {
        throw ValidationError("--\(error.field) \(error.rule)")
    }
}

func formatPercent(_ rate: Double?) -> String { rate.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }

func formatSeconds(_ seconds: Double?) -> String {
    guard let seconds else { return "-" }
    switch seconds {
    case ..<1: return "\(Int((seconds * 1000).rounded()))ms"
    case ..<60: return String(format: "%.1fs", seconds)
    default: return formatAge(seconds)
    }
}

func formatScore(_ score: Double) -> String { String(format: "%.3f", score) }

func truncate(_ text: String, _ length: Int) -> String { text.count > length ? String(text.prefix(length - 1)) + "…" : text }

func describe(_ reason: Matching.Reason?) -> String { reason.map { "\($0.component): \($0.detail)" } ?? "-" }

extension MatchesCommand {
    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per sector and overall: match rate, time from opening to first match (p50, p95), proposals and acceptance rate.",
            discussion: """
                Demand figures count the demands first opened in the period; a demand is matched when it has \
                any match. Proposal figures count the matches proposed in the period and the state each is in \
                now; acceptance rate = accepted / (accepted + declined).

                Examples:
                  pdxctl matches stats
                  pdxctl matches stats --since 2026-01-01 --sector transport
                  pdxctl matches stats --since 24h --json | jq .overall.matchRate
                """)
        @OptionGroup var scope: ReportScopeOptions
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let since = try scope.sinceDate()
            let report = try await withReportStore(database) { try await $0.matchStats(since: since, sector: scope.sector) }
            if json { return try printJSON(report) }
            say("matching \(since.map { "since " + formatDate($0) } ?? "for all time")" + (scope.sector.map { ", sector \($0)" } ?? ""))
            let rows = report.sectors + (scope.sector == nil ? [report.overall] : [])
            printTable(["sector", "opened", "matched", "match rate", "first match p50", "p95", "proposals", "pending", "accepted",
                        "declined", "withdrawn", "acceptance"], rows.map { s in
                [s.sector ?? "all", "\(s.demandsOpened)", "\(s.demandsMatched)", formatPercent(s.matchRate), formatSeconds(s.firstMatchSecondsP50),
                 formatSeconds(s.firstMatchSecondsP95), "\(s.proposals)", "\(s.pending)", "\(s.accepted)", "\(s.declined)", "\(s.withdrawn)",
                 formatPercent(s.acceptanceRate)]
            })
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Matches, newest first, with the reason that weighed most.",
            discussion: """
                Examples:
                  pdxctl matches list
                  pdxctl matches list --state declined --since 7d
                  pdxctl matches list --operator 5f1e… --sector transport --limit 200 --json
                """)
        @Option(help: ArgumentHelp("Only this demand's matches.", valueName: "uuid")) var demand: String?
        @Option(help: ArgumentHelp("Only this product's matches.", valueName: "uuid")) var product: String?
        @Option(help: ArgumentHelp("Only matches of this demander's demands.", valueName: "uuid")) var demander: String?
        @Option(help: ArgumentHelp("Only matches of this operator's products.", valueName: "uuid")) var `operator`: String?
        @Option(help: ArgumentHelp("proposed, accepted, declined or withdrawn.", valueName: "state")) var state: String?
        @Option(help: ArgumentHelp("At most this many (1 to \(MatchFilter.maximumLimit)).", valueName: "n")) var limit = 50
        @OptionGroup var scope: ReportScopeOptions
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws { _ = try filter() }

        func filter() throws -> MatchFilter {
            var matchState: MatchState?
            if let state {
                guard let parsed = MatchState(rawValue: state) else {
                    throw ValidationError("--state must be one of \(MatchState.allCases.map(\.rawValue).joined(separator: ", ")), got '\(state)'")
                }
                matchState = parsed
            }
            guard (1...MatchFilter.maximumLimit).contains(limit) else {
                throw ValidationError("--limit must be from 1 to \(MatchFilter.maximumLimit), got \(limit)")
            }
            return MatchFilter(demandID: try parseUUID(demand, option: "--demand"), productID: try parseUUID(product, option: "--product"),
                               demanderID: try parseUUID(demander, option: "--demander"),
                               operatorID: try parseUUID(`operator`, option: "--operator"), sector: scope.sector, state: matchState,
                               since: try scope.sinceDate(), limit: limit)
        }

        func run() async throws {
            let filter = try filter()
            let matches = try await withReportStore(database) { try await $0.matches(filter) }
            if json { return try printJSON(matches) }
            guard !matches.isEmpty else { return say("no matches") }
            printTable(["id", "proposed", "state", "score", "demand", "product", "top reason"], matches.map { m in
                [m.id.uuidString.lowercased(), formatDate(m.createdAt), m.state.rawValue, formatScore(m.score), truncate(m.demandTitle, 32),
                 truncate(m.productTitle, 32), truncate(describe(m.topReason), 60)]
            })
            if matches.count == filter.limit { say("(the first \(filter.limit); raise --limit or narrow the filters for more)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One match: the demand and product, the reasons behind its score, and the quote's line items.",
            discussion: """
                Examples:
                  pdxctl matches show 5f1e0c6b-…
                  pdxctl matches show 5f1e0c6b-… --json | jq .reasons
                """)
        @Argument(help: ArgumentHelp("The match's id.", valueName: "id")) var id: String
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws { _ = try parseUUID(id, option: "the match id") }

        func run() async throws {
            guard let matchID = try parseUUID(id, option: "the match id") else { return }
            let detail: MatchDetail
            do {
                detail = try await withStore(database) { try await $0.matchDetail(matchID) }
            } catch is MarketNotFound {
                throw CommandError("no match \(matchID.uuidString.lowercased()); list matches with 'pdxctl matches list'")
            }
            if json { return try printJSON(detail) }
            let m = detail.summary
            func line(_ name: String, _ value: String) { say(name.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + value) }
            line("match", m.id.uuidString.lowercased())
            line("state", "\(m.state.rawValue) since \(formatDate(m.stateChangedAt))" + (detail.stateReason.map { " (\($0))" } ?? ""))
            line("proposed", formatDate(m.createdAt))
            line("demand", "\(m.demandTitle) (\(m.demandID.uuidString.lowercased()))")
            line("", "by \(m.demanderName), sector \(m.sector), purpose \(detail.purpose.rawValue), budget \(detail.budgetFen) fen")
            line("product", "\(m.productTitle) v\(m.productVersion) (\(m.productID.uuidString.lowercased()))")
            line("", "by \(m.operatorName)")
            line("score", formatScore(m.score))
            say("")
            say("reasons (points = value × weight; they add up to the score):")
            printTable(["component", "value", "weight", "points", "detail"], detail.reasons.map { r in
                [r.component, String(format: "%.2f", r.value), String(format: "%.2f", r.weight), formatScore(r.value * r.weight), r.detail]
            })
            say("")
            say("quote for \(detail.quote.quantity) units:")
            printTable(["step", "detail", "amount (fen)"], detail.quote.lines.map { [$0.step, $0.detail, "\($0.amountFen)"] })
            say("total: \(detail.quote.amountFen) fen (\(String(format: "%.2f", Double(detail.quote.amountFen) / 100)) yuan) against a budget of \(detail.budgetFen) fen")
            say("rules: " + (detail.quote.rules.isEmpty ? "none" : detail.quote.rules.map { "\($0.id) v\($0.version)" }.joined(separator: ", ")))
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each new match as it is made (LISTEN on pdx_matches), until Ctrl-C or --count matches.",
            discussion: """
                One line per match: when, score, demand ← product, and the reason that weighed most. With \
                --changes, acceptances, declines and withdrawals too. After a lost connection it reconnects \
                and prints the matches made meanwhile. A note goes to stderr once it is listening.

                Examples:
                  pdxctl matches watch
                  pdxctl matches watch --sector transport --changes
                  pdxctl matches watch --count 1 --json
                """)
        @Option(help: ArgumentHelp("Exit after printing this many lines (at least 1).", valueName: "n")) var count: Int?
        @Option(help: ArgumentHelp("Only this sector.", valueName: "sector")) var sector: String?
        @Flag(help: "Also print state changes: accepted, declined, withdrawn.") var changes = false
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print one JSON object per line for scripts.") var json = false

        func validate() throws {
            if let count, count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
            if let sector { try checkSectorCode(sector) }
        }

        /// The payload of a `pdx_matches` notification (see sql/0006_match_events.sql).
        struct Event: Decodable {
            var id: UUID
            var state: MatchState
        }

        struct Line: Encodable {
            var event: String
            var at: Date
            var match: MatchSummary
        }

        func run() async throws {
            let url = try database.required()
            try await withReportStore(database) { store in
                // Fail at once on a database that cannot be reached or lacks the tables, rather than retrying quietly.
                _ = try await store.matches(MatchFilter(sector: sector, limit: 1))
                let listener = try PostgresListener(configuration: .init(connectionString: url, applicationName: "pdxctl"))
                defer { listener.shutdown() }
                var printed = 0, connections = 0
                var lastSeen = Date()
                var shown = Set<UUID>()
                func show(_ event: String, _ match: MatchSummary, at time: Date) throws {
                    if let sector, match.sector != sector { return }
                    if event == MatchState.proposed.rawValue {
                        if shown.count >= 100_000 { shown.removeAll(keepingCapacity: true) }
                        guard shown.insert(match.id).inserted else { return }
                        lastSeen = max(lastSeen, match.createdAt)
                    }
                    if json {
                        say(String(decoding: try jsonText(Line(event: event, at: time, match: match), pretty: false), as: UTF8.self))
                    } else {
                        say([formatDate(time), event == "proposed" ? "new" : event, formatScore(match.score),
                             "\(match.demandTitle) ← \(match.productTitle)", describe(match.topReason)].joined(separator: "  "))
                    }
                    printed += 1
                }
                for await event in try listener.subscribe(to: "pdx_matches") {
                    switch event {
                    case .listening:
                        connections += 1
                        if connections == 1 {
                            FileHandle.standardError.write(Data("watching new matches\(changes ? " and changes" : "") (Ctrl-C to stop)\n".utf8))
                        } else {
                            // Notifications sent while disconnected are lost: print what was proposed meanwhile.
                            let missed = try await store.matches(MatchFilter(sector: sector, since: lastSeen, limit: MatchFilter.maximumLimit))
                            for match in missed.reversed() { try show("proposed", match, at: match.createdAt) }
                        }
                    case .notification(let notification):
                        guard let payload = try? JSONDecoder().decode(Event.self, from: Data(notification.payload.utf8)) else { continue }
                        guard payload.state == .proposed || changes else { continue }
                        guard let detail = try? await store.matchDetail(payload.id) else { continue }
                        let time = payload.state == .proposed ? detail.summary.createdAt : detail.summary.stateChangedAt
                        try show(payload.state.rawValue, detail.summary, at: time)
                    }
                    if let count, printed >= count { break }
                }
            }
        }
    }
}
