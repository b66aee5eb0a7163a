import ArgumentParser
import Foundation
import Market
import MarketStore
import PDXCommandLine

struct ResourcesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resources",
        abstract: "Look at data resources and record their de-identification.",
        discussion: """
            A resource with personal information can be used by a product only once its de-identification step \
            is recorded (rule 3). Agencies record it through the API (POST /v1/resources/{id}/deidentification); \
            an administrator can record it here for them. Every record is audited (resource.deidentify).

            Examples:
              pdxctl resources show 6f1c…
              pdxctl resources deidentify 6f1c… --method "k-anonymity, k=20" --performed-by "Data Office" \\
                  --performed-at 2026-11-30 --evidence "report DO-2026-118" --actor li.wei
            """,
        subcommands: [Show.self, Deidentify.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a resource, with its de-identification if recorded.")
        @Argument(help: "The resource's id.") var resource: String
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let id = try uuidArgument(resource, "resource")
            guard let found = try await withStore(database, { try await $0.resource(id) }) else {
                throw ValidationError("no resource \(id.uuidString.lowercased())")
            }
            try ResourcesCommand.print(found, json: json)
        }
    }

    struct Deidentify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a resource's de-identification step: method, by whom, when, and the evidence.",
            discussion: "A later record replaces the earlier one on the resource; both stay in the audit trail. Exit codes: 0 done; 1 failed; 64 a bad argument.")
        @Argument(help: "The resource's id.") var resource: String
        @Option(help: ArgumentHelp("How it was de-identified (1 to 2000 characters).", valueName: "text")) var method: String
        @Option(help: ArgumentHelp("Who performed it (1 to 200 characters).", valueName: "name")) var performedBy: String
        @Option(help: ArgumentHelp("When it was performed: YYYY-MM-DD or an RFC 3339 time, not in the future (default: now).", valueName: "time"))
        var performedAt: String?
        @Option(help: ArgumentHelp("A reference to the evidence: a report number, a document's address.", valueName: "text")) var evidence: String?
        @OptionGroup var options: ActorOptions

        func run() async throws {
            let id = try uuidArgument(resource, "resource")
            let at = try performedAt.map { try parseTime($0, option: "--performed-at") } ?? Date()
            let step = DeidentificationStep(method: method, performedBy: performedBy, performedAt: at, evidence: evidence)
            let recorded = try await withStore(options.database) { store in
                try await store.recordDeidentification(step, of: id, by: .administrator(options.actor))
            }
            try ResourcesCommand.print(recorded, json: options.json)
        }
    }

    static func print(_ resource: DataResource, json: Bool) throws {
        if json { return try printJSON(resource) }
        say("\(resource.id.uuidString.lowercased())  \(resource.title)")
        say("  agency \(resource.agencyID.uuidString.lowercased()) · \(resource.sector) · region \(resource.regionCode.value) · grade \(resource.grade.rawValue)"
            + (resource.personalInformation ? " · personal information" : ""))
        if let step = resource.deidentification {
            say("  de-identified \(formatDate(step.performedAt)) by \(step.performedBy): \(step.method)"
                + (step.evidence.map { " (evidence: \($0))" } ?? ""))
        } else if resource.personalInformation {
            say("  not de-identified: no product may use it until the step is recorded")
        }
    }
}
