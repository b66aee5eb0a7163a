import ArgumentParser
import Foundation
import Market
import MarketStore
import PDXCommandLine

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Load sandbox datasets and audit the analyses run on them (可用不可见).",
        discussion: """
            A sandbox product's rows stay inside PostgreSQL: buyers send analyses (statistics per group, as JSON) and \\
            get noisy aggregates of groups with at least k distinct entities, each analysis spending epsilon from the \\
            dataset's budget. Every column of the file is declared: the entity identifier (never output; pdx keeps only \\
            a number for it), dimensions (grouped and filtered), measures with bounds (aggregated; each entity's total \\
            in a group is clipped to them) and hidden columns (not stored).

            Examples:
              pdxctl sandbox load --product 3f2a… --file visits.csv --entity patient_id \\
                  --dimension district --dimension year:integer --measure visits=0..50 --hidden name
              pdxctl sandbox show --product 3f2a…
              pdxctl sandbox audit --product 3f2a…
            """,
        subcommands: [Load.self, Show.self, Audit.self]
    )

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load (or reload) a sandbox product's dataset from a CSV file with a header line.")
        @Option(help: ArgumentHelp("The sandbox product.", valueName: "uuid")) var product: String
        @Option(help: ArgumentHelp("The CSV file (UTF-8, a header line naming every column).", valueName: "path")) var file: String
        @Option(help: ArgumentHelp("The entity identifier column (never output).", valueName: "column")) var entity: String
        @Option(help: ArgumentHelp("A dimension: column[:text|integer|date] (default text); repeat for each.", valueName: "column[:type]"))
        var dimension: [String] = []
        @Option(help: ArgumentHelp("A measure with its bounds: column=lower..upper; repeat for each.", valueName: "column=lo..hi"))
        var measure: [String] = []
        @Option(help: ArgumentHelp("A column never used (not stored); repeat for each.", valueName: "column")) var hidden: [String] = []
        @Option(help: "k: the fewest distinct entities a shown group has (at least 10 for important data).") var minEntities = 10
        @Option(help: "The epsilon all buyers together may spend per period.") var epsilonBudget = 10.0
        @Option(help: "The budget's period: day, week or month.") var budgetPeriod = "month"
        @Option(help: "How many groups of one analysis an entity may count in.") var maxGroupsPerEntity = 1
        @Option(help: "An analysis running longer is cancelled (milliseconds).") var timeoutMs = 10_000
        @OptionGroup var options: ActorOptions

        func columns() throws -> [SandboxColumn] {
            var columns = [SandboxColumn(name: entity, role: .entity, type: .text)]
            for spec in dimension {
                let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
                guard let type = SandboxColumnType(rawValue: parts.count == 2 ? parts[1] : "text"), type != .number, !parts.isEmpty else {
                    throw ValidationError("--dimension \(spec): write column[:text|integer|date]")
                }
                columns.append(SandboxColumn(name: parts[0], role: .dimension, type: type))
            }
            for spec in measure {
                let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
                let bounds = parts.count == 2 ? parts[1].components(separatedBy: "..") : []
                guard bounds.count == 2, let lower = Double(bounds[0]), let upper = Double(bounds[1]) else {
                    throw ValidationError("--measure \(spec): write column=lower..upper, e.g. income=0..100000")
                }
                columns.append(SandboxColumn(name: parts[0], role: .measure, type: .number, lower: lower, upper: upper))
            }
            columns += hidden.map { SandboxColumn(name: $0, role: .hidden, type: .text) }
            return columns
        }

        func settings() throws -> SandboxSettings {
            guard let period = SandboxSettings.Period(rawValue: budgetPeriod) else { throw ValidationError("--budget-period must be day, week or month") }
            return SandboxSettings(minEntities: minEntities, epsilonBudget: epsilonBudget, budgetPeriod: period,
                                   maxGroupsPerEntity: maxGroupsPerEntity, timeoutMilliseconds: timeoutMs)
        }

        func validate() throws {
            _ = try uuidArgument(product, "--product")
            do { try SandboxColumn.check(try columns()) } catch let error as MarketInputError { throw ValidationError("\(error.field): \(error.rule)") }
            _ = try settings()
        }

        func run() async throws {
            let id = try uuidArgument(product, "--product")
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch { throw ValidationError("cannot read --file \(file): \(error.localizedDescription)") }
            // With --json, standard output is the JSON alone; progress goes to standard error.
            let progress = options.json ? ProgressLine("loading \(file)", onTerminal: false, write: { FileHandle.standardError.write(Data($0.utf8)) })
                : ProgressLine("loading \(file)")
            let (columns, settings) = (try columns(), try settings())
            let load = try await withStore(options.database) { store in
                try await store.loadSandboxDataset(product: id, columns: columns, settings: settings, csv: data, by: .administrator(options.actor)) { done, total in
                    progress.update("\(done.formatted())/\(total.formatted()) rows")
                }
            }
            progress.finish("\(load.rows.formatted()) rows of \(load.entities.formatted()) entities")
            if options.json { return try printJSON(["rows": load.rows, "entities": load.entities, "generation": load.generation]) }
            say("loaded generation \(load.generation) of product \(id.uuidString.lowercased())'s dataset: \(load.rows) rows, \(load.entities) entities")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A dataset's columns, settings and budget left this period.")
        @Option(help: ArgumentHelp("The sandbox product.", valueName: "uuid")) var product: String
        @OptionGroup var database: DatabaseOptions

        func validate() throws { _ = try uuidArgument(product, "--product") }

        func run() async throws {
            let id = try uuidArgument(product, "--product")
            guard let dataset = try await withStore(database, { try await $0.sandboxDataset(of: id) }) else {
                throw ValidationError("product \(id.uuidString.lowercased()) has no sandbox dataset; load one with 'pdxctl sandbox load'")
            }
            let s = dataset.settings
            say("generation \(dataset.generation), loaded \(dataset.loadedAt.formatted(.iso8601)): \(dataset.rowCount) rows, \(dataset.entityCount) entities")
            say("k = \(s.minEntities), at most \(s.maxGroupsPerEntity) group(s) per entity, timeout \(s.timeoutMilliseconds) ms")
            say(String(format: "epsilon budget %.2f per %@: %.2f spent, %.2f left until %@", s.epsilonBudget, s.budgetPeriod.rawValue,
                       dataset.epsilonSpent, dataset.epsilonLeft, dataset.periodEndsAt.formatted(.iso8601)))
            printTable(["column", "role", "type", "bounds"], dataset.columns.map { c in
                [c.name, c.role.rawValue, c.type.rawValue, c.lower.map { "\($0)..\(c.upper ?? 0)" } ?? ""]
            })
        }
    }

    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Analyses run on sandbox datasets, newest first: who asked what, the epsilon spent, the groups released and suppressed.")
        @Option(help: ArgumentHelp("Only this product's dataset.", valueName: "uuid")) var product: String?
        @Option(help: ArgumentHelp("Only analyses this party asked, or of datasets it operates or supervises.", valueName: "uuid")) var party: String?
        @Option(help: "The most analyses to show (1-1000).") var limit = 50
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            if let product { _ = try uuidArgument(product, "--product") }
            if let party { _ = try uuidArgument(party, "--party") }
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be from 1 to 1000") }
        }

        func run() async throws {
            let productID = try product.map { try uuidArgument($0, "--product") }
            let partyID = try party.map { try uuidArgument($0, "--party") }
            let analyses = try await withStore(database) { try await $0.sandboxAnalyses(for: partyID, product: productID, limit: limit) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            func specText(_ spec: SandboxAnalysisSpec) -> String { String(decoding: (try? encoder.encode(spec)) ?? Data(), as: UTF8.self) }
            if json {
                return try printJSON(analyses.map { a in
                    ["id": a.id.uuidString.lowercased(), "product_id": a.productID.uuidString.lowercased(), "buyer_id": a.buyerID.uuidString.lowercased(),
                     "state": a.state.rawValue, "epsilon": "\(a.epsilon)", "epsilon_refunded": "\(a.epsilonRefunded)", "spec": specText(a.spec),
                     "groups_released": a.groupsReleased.map(String.init) ?? "", "groups_suppressed": a.groupsSuppressed.map(String.init) ?? "",
                     "failure": a.failure ?? "", "created_at": a.createdAt.formatted(.iso8601)]
                })
            }
            guard !analyses.isEmpty else { return say("no analyses") }
            printTable(["submitted", "analysis", "buyer", "state", "epsilon", "released", "suppressed", "spec / failure"], analyses.map { a in
                [a.createdAt.formatted(.iso8601), a.id.uuidString.lowercased(), a.buyerID.uuidString.lowercased(),
                 a.state.rawValue + (a.epsilonRefunded ? " (refunded)" : ""), String(format: "%.2f", a.epsilon),
                 a.groupsReleased.map(String.init) ?? "", a.groupsSuppressed.map(String.init) ?? "", a.failure ?? specText(a.spec)]
            })
        }
    }
}
