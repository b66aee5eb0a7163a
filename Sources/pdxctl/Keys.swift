import ArgumentParser
import Foundation
import MarketStore
import PDXCommandLine

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "API keys: create one for a party, list them, rotate one, revoke one.",
        discussion: """
            A key belongs to one party, and the party's kind decides what it may do through the API. The key \
            is printed once, at creation; only its SHA-256 is stored. A key may carry an expiry (--expires-in); \
            rotating a key issues its successor and lets the old key live for a grace period (parties rotate \
            their own through POST /v1/keys/rotate). Revocation is immediate and final.

            Examples:
              pdxctl keys create --party 5f1e… --label "bank integration" --expires-in 90d
              pdxctl keys rotate 0b7c… --grace 7d
              pdxctl keys list --party 5f1e…
              pdxctl keys revoke 0b7c… --reason "leaked in a log"
            """,
        subcommands: [Create.self, List.self, Rotate.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key for a party and print it (once).")
        @Option(help: ArgumentHelp("The party the key acts for.", valueName: "uuid")) var party: String
        @Option(help: ArgumentHelp("What the key is for (up to 200 characters).", valueName: "text")) var label = ""
        @Option(help: ArgumentHelp("How long it works (e.g. 90d; at most 5 years; default: until revoked).", valueName: "duration")) var expiresIn: String?
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            guard UUID(uuidString: party) != nil else { throw ValidationError("--party must be a UUID, got '\(party)'") }
            guard label.count <= 200 else { throw ValidationError("--label must be at most 200 characters") }
            _ = try expiry(expiresIn: expiresIn, expiresAt: nil, required: false)
        }

        func run() async throws {
            guard let partyID = UUID(uuidString: party) else { throw ValidationError("--party must be a UUID, got '\(party)'") }
            let expiresAt = try expiry(expiresIn: expiresIn, expiresAt: nil, required: false)
            let (key, token) = try await withStore(audit.database) {
                try await $0.createAPIKey(party: partyID, label: label, expiresAt: expiresAt, by: .administrator(audit.actor))
            }
            if audit.json {
                struct Created: Encodable { var id: UUID; var party: UUID; var prefix: String; var key: String; var expiresAt: Date? }
                return try printJSON(Created(id: key.id, party: key.partyID, prefix: key.prefix, key: token, expiresAt: key.expiresAt))
            }
            say("created key \(key.id.uuidString.lowercased()) for party \(partyID.uuidString.lowercased())" + (key.expiresAt.map { ", expiring \(formatDate($0))" } ?? ""))
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
            printTable(["id", "party", "prefix", "label", "created", "expires", "revoked"], keys.map { key in
                [key.id.uuidString.lowercased(), key.partyID.uuidString.lowercased(), "pdx_\(key.prefix)_…", key.label,
                 format.string(from: key.createdAt), key.expiresAt.map(format.string(from:)) ?? "-", key.revokedAt.map(format.string(from:)) ?? "-"]
            })
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a key's successor (printed once) and let the old key live for a grace period.",
            discussion: "The successor keeps the old key's label and, if the old key expired, its lifetime (unless --expires-in says otherwise). A key rotates once.")
        @Argument(help: ArgumentHelp("The key's id (from `keys list`).", valueName: "uuid")) var id: String
        @Option(help: ArgumentHelp("How long the old key keeps working (default 1d; 0s ends it now; at most 30d).", valueName: "duration")) var grace = "1d"
        @Option(help: ArgumentHelp("How long the successor works (default: as long as the old one did).", valueName: "duration")) var expiresIn: String?
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            guard UUID(uuidString: id) != nil else { throw ValidationError("the key id must be a UUID, got '\(id)'") }
            guard try parseDuration(grace, option: "--grace") <= .seconds(30 * 86_400) else { throw ValidationError("--grace must be at most 30d") }
            _ = try expiry(expiresIn: expiresIn, expiresAt: nil, required: false)
        }

        func run() async throws {
            guard let keyID = UUID(uuidString: id) else { throw ValidationError("the key id must be a UUID, got '\(id)'") }
            let grace = TimeInterval(try parseDuration(grace, option: "--grace").components.seconds)
            let expiresAt = try expiry(expiresIn: expiresIn, expiresAt: nil, required: false)
            let (key, token, previous) = try await withStore(audit.database) {
                try await $0.rotateAPIKey(keyID, grace: grace, expiresAt: expiresAt, by: .administrator(audit.actor))
            }
            if audit.json {
                struct Rotated: Encodable { var id: UUID; var party: UUID; var prefix: String; var key: String; var expiresAt: Date?; var previous: APIKey }
                return try printJSON(Rotated(id: key.id, party: key.partyID, prefix: key.prefix, key: token, expiresAt: key.expiresAt, previous: previous))
            }
            say("rotated key \(keyID.uuidString.lowercased()): it works until \(formatDate(previous.expiresAt))")
            say("new key \(key.id.uuidString.lowercased()): \(token)")
            say("store it now: it is not shown again")
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
