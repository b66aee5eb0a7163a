import ArgumentParser
import Foundation
import MarketStore
import PDXCommandLine

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "API keys: create one for a party, list them, revoke one.",
        discussion: """
            A key belongs to one party, and the party's kind decides what it may do through the API. The key \
            is printed once, at creation; only its SHA-256 is stored. Revocation is immediate and final.

            Examples:
              pdxctl keys create --party 5f1e… --label "bank integration"
              pdxctl keys list --party 5f1e…
              pdxctl keys revoke 0b7c… --reason "leaked in a log"
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key for a party and print it (once).")
        @Option(help: ArgumentHelp("The party the key acts for.", valueName: "uuid")) var party: String
        @Option(help: ArgumentHelp("What the key is for (up to 200 characters).", valueName: "text")) var label = ""
        @Option(help: ArgumentHelp("Who creates it (default: the OS user).", valueName: "name"))
        var actor: String = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard UUID(uuidString: party) != nil else { throw ValidationError("--party must be a UUID, got '\(party)'") }
            guard label.count <= 200 else { throw ValidationError("--label must be at most 200 characters") }
        }

        func run() async throws {
            guard let partyID = UUID(uuidString: party) else { throw ValidationError("--party must be a UUID, got '\(party)'") }
            let (key, token) = try await withStore(database) { try await $0.createAPIKey(party: partyID, label: label, by: .administrator(actor)) }
            if json {
                struct Created: Encodable { var id: UUID; var party: UUID; var prefix: String; var key: String }
                return try printJSON(Created(id: key.id, party: key.partyID, prefix: key.prefix, key: token))
            }
            say("created key \(key.id.uuidString.lowercased()) for party \(partyID.uuidString.lowercased())")
            say("key: \(token)")
            say("store it now: it is not shown again. Send it as: Authorization: Bearer <key>")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never the keys themselves), newest first.")
        @Option(help: ArgumentHelp("Only this party's keys.", valueName: "uuid")) var party: String?
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            if let party, UUID(uuidString: party) == nil { throw ValidationError("--party must be a UUID, got '\(party)'") }
        }

        func run() async throws {
            let keys = try await withStore(database) { try await $0.apiKeys(party: party.flatMap(UUID.init(uuidString:))) }
            if json { return try printJSON(keys) }
            guard !keys.isEmpty else { return say("no keys") }
            let format = ISO8601DateFormatter()
            printTable(["id", "party", "prefix", "label", "created", "revoked"], keys.map { key in
                [key.id.uuidString.lowercased(), key.partyID.uuidString.lowercased(), "pdx_\(key.prefix)_…", key.label,
                 format.string(from: key.createdAt), key.revokedAt.map(format.string(from:)) ?? "-"]
            })
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: requests with it are refused from now on.")
        @Argument(help: ArgumentHelp("The key's id (from `keys list`).", valueName: "uuid")) var id: String
        @Option(help: ArgumentHelp("Why (recorded in the audit log).", valueName: "text")) var reason: String
        @Option(help: ArgumentHelp("Who revokes it (default: the OS user).", valueName: "name"))
        var actor: String = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard UUID(uuidString: id) != nil else { throw ValidationError("the key id must be a UUID, got '\(id)'") }
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must not be empty") }
        }

        func run() async throws {
            guard let keyID = UUID(uuidString: id) else { throw ValidationError("the key id must be a UUID, got '\(id)'") }
            try await withStore(database) { try await $0.revokeAPIKey(keyID, reason: reason, by: .administrator(actor)) }
            say("revoked key \(keyID.uuidString.lowercased())")
        }
    }
}
