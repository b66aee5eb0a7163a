import ArgumentParser
import Foundation
import Market
import MarketStore
import PDXCommandLine

struct ApplicationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "applications",
        abstract: "Applications to join the market (sent to POST /v1/applications without a key): list, show, approve, reject.",
        discussion: """
            Approving registers the party (and verifies the classes you accept, with evidence and an expiry); \
            the applicant then exchanges its claim secret, once, for its first API key \
            (POST /v1/applications/{id}/claim), so no key passes through you. Rejecting tells the applicant why.

            Examples:
              pdxctl applications list --state pending
              pdxctl applications approve 3c9d… --reason "licence checked" --accept-class small_micro --evidence "MIIT 2026-031" --expires-in 365d
              pdxctl applications reject 3c9d… --reason "the credit code belongs to another entity"
            """,
        subcommands: [List.self, Show.self, Approve.self, Reject.self]
    )

    struct Row: Encodable {
        var id: UUID; var kind: String; var name: String; var nameEn: String?; var creditCode: String; var regionCode: String
        var contact: Contact; var classes: [String]; var scenarios: [String]; var state: String; var partyId: UUID?
        var decidedBy: String?; var decidedAt: Date?; var decisionReason: String?; var claimedAt: Date?; var submittedFrom: String?; var createdAt: Date

        init(_ application: Application) {
            id = application.id; kind = application.kind.rawValue; name = application.name; nameEn = application.nameEN
            creditCode = application.creditCode; regionCode = application.regionCode; contact = application.contact
            classes = application.classes.map(\.rawValue); scenarios = application.scenarios; state = application.state.rawValue
            partyId = application.partyID; decidedBy = application.decidedBy; decidedAt = application.decidedAt
            decisionReason = application.decisionReason; claimedAt = application.claimedAt; submittedFrom = application.submittedFrom
            createdAt = application.createdAt
        }
    }

    static func id(_ text: String) throws -> UUID { try uuidArgument(text, "the application id") }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List applications, oldest first.")
        @Option(help: ArgumentHelp("Only those in this state: pending, approved, rejected or claimed.", valueName: "state")) var state: String?
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws { if let state { _ = try PartiesCommand.choice(state, option: "--state", ApplicationState.self) } }

        func run() async throws {
            let state = try self.state.map { try PartiesCommand.choice($0, option: "--state", ApplicationState.self) }
            let applications = try await withStore(database) { try await $0.applications(state: state) }
            if json { return try printJSON(applications.map(Row.init)) }
            guard !applications.isEmpty else { return say("no applications") }
            printTable(["id", "kind", "name", "credit code", "region", "claims", "state", "received"], applications.map { a in
                [a.id.uuidString.lowercased(), a.kind.rawValue, a.name, a.creditCode, a.regionCode, a.classes.map(\.rawValue).joined(separator: ","),
                 a.state.rawValue, formatDate(a.createdAt)]
            })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one application.")
        @Argument(help: ArgumentHelp("The application's id.", valueName: "uuid")) var id: String
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws { _ = try ApplicationsCommand.id(id) }

        func run() async throws {
            let a = try await withStore(database) { try await $0.application(try ApplicationsCommand.id(id)) }
            if json { return try printJSON(Row(a)) }
            printTable(["field", "value"], [
                ["id", a.id.uuidString.lowercased()], ["kind", a.kind.rawValue], ["name", a.name], ["name (en)", a.nameEN ?? "-"],
                ["credit code", a.creditCode], ["region", a.regionCode],
                ["contact", [a.contact.name, a.contact.email, a.contact.phone].compactMap { $0 }.joined(separator: ", ")],
                ["claims", a.classes.map(\.rawValue).joined(separator: ", ")], ["scenarios", a.scenarios.joined(separator: ", ")],
                ["state", a.state.rawValue], ["party", a.partyID?.uuidString.lowercased() ?? "-"],
                ["decided", a.decidedAt.map { "\(formatDate($0)) by \(a.decidedBy ?? "?"): \(a.decisionReason ?? "")" } ?? "-"],
                ["received", "\(formatDate(a.createdAt)) from \(a.submittedFrom ?? "?")"],
            ])
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a pending application: register its party, verify the classes you accept.")
        @Argument(help: ArgumentHelp("The application's id.", valueName: "uuid")) var id: String
        @Option(help: ArgumentHelp("Why (required; recorded).", valueName: "text")) var reason: String
        @Option(help: ArgumentHelp("A claimed class you verified (repeat for several).", valueName: "class")) var acceptClass: [String] = []
        @Option(help: ArgumentHelp("The evidence for the accepted classes.", valueName: "text")) var evidence: String?
        @Option(help: ArgumentHelp("How long the accepted classes hold (e.g. 365d).", valueName: "duration")) var expiresIn: String?
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            _ = try ApplicationsCommand.id(id)
            try PartiesCommand.reasonRequired(reason)
            for text in acceptClass { _ = try PartiesCommand.choice(text, option: "--accept-class", PartyClass.self) }
            if !acceptClass.isEmpty {
                guard let evidence else { throw ValidationError("--evidence is required with --accept-class") }
                try PartiesCommand.reasonRequired(evidence, option: "--evidence")
                _ = try expiry(expiresIn: expiresIn, expiresAt: nil, required: true)
            }
        }

        func run() async throws {
            let classes = try acceptClass.map { try PartiesCommand.choice($0, option: "--accept-class", PartyClass.self) }
            let until = classes.isEmpty ? nil : try expiry(expiresIn: expiresIn, expiresAt: nil, required: true)
            let application = try await withStore(audit.database) {
                try await $0.approveApplication(try ApplicationsCommand.id(id), acceptingClasses: classes, evidence: evidence, expiresAt: until,
                                                reason: reason, by: .administrator(audit.actor))
            }
            if audit.json { return try printJSON(Row(application)) }
            say("approved: \(application.kind.rawValue) \(application.partyID?.uuidString.lowercased() ?? "?") registered (\(application.name))")
            say("the applicant now claims its first key with its claim secret: POST /v1/applications/\(application.id.uuidString.lowercased())/claim")
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a pending application, saying why (the applicant reads it).")
        @Argument(help: ArgumentHelp("The application's id.", valueName: "uuid")) var id: String
        @Option(help: ArgumentHelp("Why (required).", valueName: "text")) var reason: String
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            _ = try ApplicationsCommand.id(id)
            try PartiesCommand.reasonRequired(reason)
        }

        func run() async throws {
            try await withStore(audit.database) { try await $0.rejectApplication(try ApplicationsCommand.id(id), reason: reason, by: .administrator(audit.actor)) }
            say("rejected application \(id.lowercased())")
        }
    }
}

/// `pdxctl sectors` and `pdxctl scenarios`: the managed lists demands and products choose from.
struct VocabularyCommand: ParsableArguments {
    static func configuration(_ vocabulary: Vocabulary) -> CommandConfiguration {
        CommandConfiguration(
            commandName: vocabulary.rawValue,
            abstract: "The \(vocabulary.rawValue) the market knows, with Chinese and English labels: list, add, rename.",
            discussion: """
                Demands, products, resources, grants and applications accept only known \(vocabulary.rawValue) (422 unknown_value \
                listing them); GET /v1/\(vocabulary.rawValue) lists them for anyone. A code never changes once added: rename \
                changes its labels.

                Examples:
                  pdxctl \(vocabulary.rawValue) list
                  pdxctl \(vocabulary.rawValue) add \(vocabulary == .sectors ? "water" : "flood_warning") --name-zh \(vocabulary == .sectors ? "水利" : "洪水预警") --name-en "\(vocabulary == .sectors ? "water" : "flood warning")"
                """)
    }
}

struct TermList: ParsableArguments {
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print JSON for scripts.") var json = false

    func run(_ vocabulary: Vocabulary) async throws {
        let terms = try await withStore(database) { try await $0.terms(vocabulary) }
        if json { return try printJSON(terms.map { ["code": $0.code, "name_zh": $0.nameZH, "name_en": $0.nameEN] }) }
        printTable(["code", "中文", "English"], terms.map { [$0.code, $0.nameZH, $0.nameEN] })
    }
}

struct TermAdd: ParsableArguments {
    @Argument(help: ArgumentHelp("The code data refers to (lowercase).", valueName: "code")) var code: String
    @Option(help: ArgumentHelp("The Chinese label.", valueName: "text")) var nameZh: String
    @Option(help: ArgumentHelp("The English label.", valueName: "text")) var nameEn: String
    @OptionGroup var audit: ActorOptions

    func check(_ vocabulary: Vocabulary) throws {
        do { try vocabulary.checkCode(code) } catch { throw ValidationError("the code \(error.rule), got '\(code)'") }
        for (option, text) in [("--name-zh", nameZh), ("--name-en", nameEn)] where !(1...100).contains(text.trimmingCharacters(in: .whitespaces).count) {
            throw ValidationError("\(option) must be 1 to 100 characters")
        }
    }

    func run(_ vocabulary: Vocabulary) async throws {
        try await withStore(audit.database) {
            try await $0.addTerm(Term(code: code, nameZH: nameZh, nameEN: nameEn), to: vocabulary, by: .administrator(audit.actor))
        }
        say("added \(vocabulary.noun) \(code) (\(nameZh), \(nameEn))")
    }
}

struct TermRename: ParsableArguments {
    @Argument(help: ArgumentHelp("The code.", valueName: "code")) var code: String
    @Option(help: ArgumentHelp("The new Chinese label.", valueName: "text")) var nameZh: String?
    @Option(help: ArgumentHelp("The new English label.", valueName: "text")) var nameEn: String?
    @OptionGroup var audit: ActorOptions

    func check() throws {
        guard nameZh != nil || nameEn != nil else { throw ValidationError("give --name-zh, --name-en or both") }
        for (option, text) in [("--name-zh", nameZh), ("--name-en", nameEn)] {
            if let text, !(1...100).contains(text.trimmingCharacters(in: .whitespaces).count) { throw ValidationError("\(option) must be 1 to 100 characters") }
        }
    }

    func run(_ vocabulary: Vocabulary) async throws {
        let term = try await withStore(audit.database) {
            try await $0.renameTerm(code, in: vocabulary, nameZH: nameZh, nameEN: nameEn, by: .administrator(audit.actor))
        }
        say("\(vocabulary.noun) \(term.code) is now \(term.nameZH) / \(term.nameEN)")
    }
}

struct SectorsCommand: AsyncParsableCommand {
    static let configuration = { var c = VocabularyCommand.configuration(.sectors); c.subcommands = [List.self, Add.self, Rename.self]; return c }()
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the sectors.")
        @OptionGroup var options: TermList
        func run() async throws { try await options.run(.sectors) }
    }
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a sector.")
        @OptionGroup var options: TermAdd
        func validate() throws { try options.check(.sectors) }
        func run() async throws { try await options.run(.sectors) }
    }
    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a sector's labels.")
        @OptionGroup var options: TermRename
        func validate() throws { try options.check() }
        func run() async throws { try await options.run(.sectors) }
    }
}

struct ScenariosCommand: AsyncParsableCommand {
    static let configuration = { var c = VocabularyCommand.configuration(.scenarios); c.subcommands = [List.self, Add.self, Rename.self]; return c }()
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the scenarios.")
        @OptionGroup var options: TermList
        func run() async throws { try await options.run(.scenarios) }
    }
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a scenario.")
        @OptionGroup var options: TermAdd
        func validate() throws { try options.check(.scenarios) }
        func run() async throws { try await options.run(.scenarios) }
    }
    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a scenario's labels.")
        @OptionGroup var options: TermRename
        func validate() throws { try options.check() }
        func run() async throws { try await options.run(.scenarios) }
    }
}
