import ArgumentParser
import Foundation
import MarketStore
import PDXCommandLine

struct BillingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "billing",
        abstract: "Close billing months (statements from metered usage) and correct statements.",
        discussion: """
            Closing a month issues one statement per entitlement with usage in it (or, unmetered, delivered in it), \\
            priced by the pricing engine under the rules in force when the month began, with its ledger entries. \\
            Earlier months not closed yet are closed first. Usage for a closed month is refused from then on. The \\
            workers close each month by themselves a day after it ends (a close_period job); this runs one now. \\
            Statements never change: a correction is an adjusting statement.

            Examples:
              pdxctl billing close --period 2026-11
              pdxctl billing statements --period 2026-11
              pdxctl billing adjust --statement 3f2a… --amount-fen=-500 --reason "outage on 11-14"   (= before a negative amount)
            """,
        subcommands: [Close.self, Statements.self, Adjust.self]
    )

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a month (and every earlier one still open).")
        @Option(help: ArgumentHelp("The month, YYYY-MM (it must have ended).", valueName: "month")) var period: String
        @OptionGroup var options: ActorOptions

        func validate() throws { _ = try parsedPeriod(period) }

        func run() async throws {
            let month = try parsedPeriod(period)
            let closes = try await withStore(options.database) { try await $0.closePeriods(through: month, by: options.actor) }
            if options.json {
                return try printJSON(closes.map { ["period": "\($0.period)", "issued": "\($0.issued)", "statements": "\($0.statements)",
                                                   "amount_fen": "\($0.amountFen)", "already_closed": "\($0.alreadyClosed)"] })
            }
            for close in closes {
                say(close.alreadyClosed ? "\(close.period): already closed (\(close.statements) statements, \(close.amountFen) fen)"
                    : "\(close.period): closed, \(close.issued) statements issued now, \(close.statements) in all, \(close.amountFen) fen")
            }
        }
    }

    struct Statements: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A party's statements (as buyer or seller).")
        @Option(help: ArgumentHelp("The party.", valueName: "uuid")) var party: String
        @Option(help: ArgumentHelp("Only this month, YYYY-MM.", valueName: "month")) var period: String?
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            _ = try uuidArgument(party, "--party")
            if let period { _ = try parsedPeriod(period) }
        }

        func run() async throws {
            let id = try uuidArgument(party, "--party")
            let month = try period.map(parsedPeriod)
            let statements = try await withStore(database) { try await $0.statements(of: id, period: month, limit: 1000) }
            if json {
                return try printJSON(statements.map { s in
                    ["id": s.id.uuidString.lowercased(), "number": "\(s.number)", "period": "\(s.period)", "kind": s.kind.rawValue,
                     "entitlement_id": s.entitlementID.uuidString.lowercased(), "units": "\(s.units)", "amount_fen": "\(s.amountFen)",
                     "agency_share_fen": "\(s.agencyShareFen)"]
                })
            }
            guard !statements.isEmpty else { return say("no statements") }
            printTable(["number", "period", "kind", "statement", "entitlement", "units", "amount fen", "agency fen"], statements.map { s in
                ["\(s.number)", "\(s.period)", s.kind.rawValue, s.id.uuidString.lowercased(), s.entitlementID.uuidString.lowercased(), "\(s.units)",
                 "\(s.amountFen)", "\(s.agencyShareFen)"]
            })
        }
    }

    struct Adjust: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Correct a statement with an adjusting statement (negative: a credit).")
        @Option(help: ArgumentHelp("The statement to correct.", valueName: "uuid")) var statement: String
        @Option(help: ArgumentHelp("The correction in fen (negative credits the buyer).", valueName: "fen")) var amountFen: Int64
        @OptionGroup var change: ChangeOptions
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            _ = try uuidArgument(statement, "--statement")
            guard amountFen != 0 else { throw ValidationError("--amount-fen must not be zero") }
        }

        func run() async throws {
            let id = try uuidArgument(statement, "--statement")
            let issued = try await withStore(database) { try await $0.adjustStatement(id, amountFen: amountFen, reason: change.reason, by: change.actor) }
            say("adjusting statement \(issued.number) (\(issued.id.uuidString.lowercased())): \(issued.amountFen) fen in \(issued.period)")
        }
    }
}

struct SettlementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settlement",
        abstract: "The settlement ledger: what each buyer owes and each seller and agency earns in a month.",
        discussion: """
            Double entry in fen from the month's statements (adjustments included): buyers' accounts are debited, \\
            sellers' and agencies' (their share from the authorization's terms) credited; the two always balance.

            Examples:
              pdxctl settlement report --period 2026-11
            """,
        subcommands: [Report.self]
    )

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A month's settlement report.")
        @Option(help: ArgumentHelp("The month, YYYY-MM.", valueName: "month")) var period: String
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws { _ = try parsedPeriod(period) }

        func run() async throws {
            let report = try await withStore(database) { try await $0.settlementReport(try parsedPeriod(period)) }
            if json { return try printJSON(report) }
            if report.lines.isEmpty { say("\(report.period): no ledger entries") } else {
                printTable(["account", "party", "name", "entries", "net fen"], report.lines.map {
                    [$0.account, $0.partyID.uuidString.lowercased(), $0.name, "\($0.entries)", "\($0.netFen)"]
                })
            }
            say("debits \(report.debitsFen) fen, credits \(report.creditsFen) fen: \(report.balanced ? "balanced" : "NOT BALANCED")")
            if !report.balanced { throw ExitCode(3) }
        }
    }
}

struct SigningKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signing-keys",
        abstract: "The keys entitlement tokens are signed with (published at /.well-known/jwks.json).",
        discussion: """
            One key signs at a time. Rotating makes a new one sign from now on; the old one stays published for an \\
            hour (the longest a token lives), so tokens it signed keep verifying until they expire. API servers \\
            pick the change up at once (NOTIFY).

            Examples:
              pdxctl signing-keys list
              pdxctl signing-keys rotate --reason "quarterly rotation"
            """,
        subcommands: [List.self, Rotate.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every key, newest last.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let keys = try await withStore(database) { try await $0.signingKeys() }
            if json { return try printJSON(keys) }
            guard !keys.isEmpty else { return say("no signing keys yet (one is made with the first token)") }
            printTable(["kid", "alg", "created", "by", "retired", "published"], keys.map {
                [$0.kid, $0.algorithm, $0.createdAt.formatted(.iso8601), $0.createdBy, $0.retiredAt?.formatted(.iso8601) ?? "signing", $0.published ? "yes" : "no"]
            })
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a new key sign; the old one stays published while its tokens live.")
        @OptionGroup var change: ChangeOptions
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let kid = try await withStore(database) { try await $0.rotateSigningKey(by: change.actor, reason: change.reason) }
            say("signing with \(kid) from now on")
        }
    }
}

func parsedPeriod(_ text: String) throws -> BillingPeriod {
    do { return try BillingPeriod(text) } catch { throw ValidationError("--period must be a month written YYYY-MM, such as 2026-11, got '\(text)'") }
}
