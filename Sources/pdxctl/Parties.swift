import ArgumentParser
import Foundation
import Market
import MarketStore
import PDXCommandLine

struct PartiesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parties",
        abstract: "The market's parties: register an agency, an operator or a demander; list them; show one.",
        discussion: """
            A party is a legal entity known by its unified social credit code (GB 32100-2015, checked); its \
            kind decides what its API keys may do. Registering is audited. After registering, create the \
            party's first key with `pdxctl keys create --party <id>`.

            Examples:
              pdxctl parties register --kind agency --name "上海市大数据中心" --credit-code 12310000MB2F31843J --region 310000
              pdxctl parties register --kind demander --name "示例物流" --credit-code 91310115MA1K4CXY1F --region 310115 --small-or-micro
              pdxctl parties list --kind operator
              pdxctl parties show 5f1e…
            """,
        subcommands: [Register.self, List.self, Show.self]
    )

    /// A party as pdxctl prints it.
    struct Row: Encodable {
        var id: UUID
        var kind: String
        var name: String
        var creditCode: String
        var regionCode: String
        var smallOrMicro: Bool

        init(_ party: Party) {
            id = party.id
            kind = party.kind.rawValue
            name = party.name
            creditCode = party.creditCode.value
            regionCode = party.regionCode.value
            smallOrMicro = party.smallOrMicro
        }
    }

    static func kind(_ text: String, option: String) throws -> PartyKind {
        guard let kind = PartyKind(rawValue: text) else {
            throw ValidationError("\(option) must be one of \(PartyKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        return kind
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a party and print its id.")
        @Option(help: ArgumentHelp("agency, operator or demander.", valueName: "kind")) var kind: String
        @Option(help: ArgumentHelp("Its legal name (1 to 200 characters).", valueName: "text")) var name: String
        @Option(help: ArgumentHelp("Its unified social credit code (18 characters, check digit verified).", valueName: "code"))
        var creditCode: String
        @Option(help: ArgumentHelp("Its administrative division (GB/T 2260, six digits).", valueName: "code")) var region: String
        @Flag(help: "It is a small or micro enterprise (earns the discount of the pricing rules).") var smallOrMicro = false
        @Option(help: ArgumentHelp("Who registers it (default: the OS user).", valueName: "name"))
        var actor: String = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            _ = try PartiesCommand.kind(kind, option: "--kind")
            guard (1...200).contains(name.trimmingCharacters(in: .whitespaces).count) else { throw ValidationError("--name must be 1 to 200 characters") }
            do { _ = try CreditCode(creditCode) } catch { throw ValidationError("--credit-code \(error.rule) (unified social credit code, GB 32100-2015)") }
            do { _ = try RegionCode(region) } catch { throw ValidationError("--region \(error.rule)") }
        }

        func run() async throws {
            let new = NewParty(kind: try PartiesCommand.kind(kind, option: "--kind"), name: name, creditCode: creditCode, regionCode: region,
                               smallOrMicro: smallOrMicro)
            let party = try await withStore(database) { try await $0.registerParty(new, by: .administrator(actor)) }
            if json { return try printJSON(Row(party)) }
            say("registered \(party.kind.rawValue) \(party.id.uuidString.lowercased()) (\(party.name))")
            say("next: pdxctl keys create --party \(party.id.uuidString.lowercased())")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered parties, by kind and name.")
        @Option(help: ArgumentHelp("Only parties of this kind: agency, operator or demander.", valueName: "kind")) var kind: String?
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            if let kind { _ = try PartiesCommand.kind(kind, option: "--kind") }
        }

        func run() async throws {
            let kind = try self.kind.map { try PartiesCommand.kind($0, option: "--kind") }
            let parties = try await withStore(database) { try await $0.parties(kind: kind) }
            if json { return try printJSON(parties.map(Row.init)) }
            guard !parties.isEmpty else { return say("no parties") }
            printTable(["id", "kind", "name", "credit code", "region", "small/micro"], parties.map { party in
                [party.id.uuidString.lowercased(), party.kind.rawValue, party.name, party.creditCode.value, party.regionCode.value,
                 party.smallOrMicro ? "yes" : "no"]
            })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one party and its API keys (never the keys themselves).")
        @Argument(help: ArgumentHelp("The party's id (from `parties list`).", valueName: "uuid")) var id: String
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard UUID(uuidString: id) != nil else { throw ValidationError("the party id must be a UUID, got '\(id)'") }
        }

        func run() async throws {
            guard let partyID = UUID(uuidString: id) else { throw ValidationError("the party id must be a UUID, got '\(id)'") }
            let (party, keys) = try await withStore(database) { store in (try await store.party(partyID), try await store.apiKeys(party: partyID)) }
            if json {
                struct Shown: Encodable { var party: Row; var keys: [APIKey] }
                return try printJSON(Shown(party: Row(party), keys: keys))
            }
            let active = keys.filter { $0.revokedAt == nil }.count
            printTable(["field", "value"], [
                ["id", party.id.uuidString.lowercased()], ["kind", party.kind.rawValue], ["name", party.name],
                ["credit code", party.creditCode.value], ["region", party.regionCode.value], ["small or micro", party.smallOrMicro ? "yes" : "no"],
                ["API keys", "\(active) active, \(keys.count - active) revoked"],
            ])
        }
    }
}
