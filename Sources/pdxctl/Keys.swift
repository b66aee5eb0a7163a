import ArgumentParser
import Foundation
import MarketStore
import PDXCommandLine

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "API keys and administrators' keys: create one, list them, rotate one, revoke one.",
        discussion: """
            A key belongs to one party, and the party's kind decides what it may do through the API and the \
            console. An administrator's key (--admin) belongs to a named administrator and opens the console's \
            administration pages (/console); it does not call the API. The key \
            is printed once, at creation; only its SHA-256 is stored. A key may carry an expiry (--expires-in); \
            rotating a key issues its successor and lets the old key live for a grace period (parties rotate \
            their own through POST /v1/keys/rotate). Revocation is immediate and final.

            Examples:
              pdxctl keys create --party 5f1e… --label "bank integration" --expires-in 90d
              pdxctl keys create --admin --name alice --expires-in 180d
              pdxctl keys rotate 0b7c… --grace 7d
              pdxctl keys list --party 5f1e…
              pdxctl keys revoke 0b7c… --reason "leaked in a log"
            """,
        subcommands: [Create.self, List.self, Rotate.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key for a party, or an administrator's key, and print it (once).")
        @Option(help: ArgumentHelp("The party the key acts for.", valueName: "uuid")) var party: String?
        @Flag(help: "An administrator's key, for the console (with --name), instead of a party's.") var admin = false
        @Option(help: ArgumentHelp("The administrator (with --admin): letters, digits, . _ @ -; the audit trail names them admin:<name>.", valueName: "name"))
        var name: String?
        @Option(help: ArgumentHelp("What the key is for (up to 200 characters).", valueName: "text")) var label = ""
        @Option(help: ArgumentHelp("How long it works (e.g. 90d; at most 5 years; default: until revoked).", valueName: "duration")) var expiresIn: String?
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            if admin {
                guard party == nil else { throw ValidationError("--admin makes an administrator's key: give --name, not --party") }
                guard let name, name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"#, options: .regularExpression) != nil else {
                    throw ValidationError("--admin needs --name: 1 to 100 letters, digits or . _ @ - (such as --name alice)")
                }
            } else {
                guard name == nil else { throw ValidationError("--name is for administrators' keys: add --admin") }
                guard let party else { throw ValidationError("--party is required (or --admin --name for an administrator's key)") }
                guard UUID(uuidString: party) != nil else { throw ValidationError("--party must be a UUID, got '\(party)'") }
            }
            guard label.count <= 200 else { throw ValidationError("--label must be at most 200 characters") }
            _ = try expiry(expiresIn: expiresIn, expiresAt: nil, required: false)
        }

        func run() async throws {
            let expiresAt = try expiry(expiresIn: expiresIn, expiresAt: nil, required: false)
            if admin, let name {
                let (key, token) = try await withStore(audit.database) {
                    try await $0.createAdminKey(name: name, label: label, expiresAt: expiresAt, by: .administrator(audit.actor))
                }
                if audit.json {
                    struct Created: Encodable { var id: UUID; var administrator: String; var prefix: String; var key: String; var expiresAt: Date? }
                    return try printJSON(Created(id: key.id, administrator: key.name, prefix: key.prefix, key: token, expiresAt: key.expiresAt))
                }
                say("created administrator key \(key.id.uuidString.lowercased()) for \(name)" + (key.expiresAt.map { ", expiring \(formatDate($0))" } ?? ""))
                say("key: \(token)")
                say("store it now: it is not shown again. Sign in to the console (/console of pdx serve) with it")
                return
            }
            guard let party, let partyID = UUID(uuidString: party) else { throw ValidationError("--party must be a UUID, got '\(party ?? "")'") }
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
        @Flag(help: "Administrators' keys instead of parties'.") var admin = false
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            if let party, UUID(uuidString: party) == nil { throw ValidationError("--party must be a UUID, got '\(party)'") }
            if admin, party != nil { throw ValidationError("--admin lists administrators' keys: leave out --party") }
        }

        func run() async throws {
            if admin {
                let keys = try await withStore(database) { try await $0.adminKeys() }
                if json { return try printJSON(keys) }
                guard !keys.isEmpty else { return say("no administrator keys") }
                let format = ISO8601DateFormatter()
                return printTable(["id", "administrator", "prefix", "label", "created", "expires", "revoked"], keys.map { key in
                    [key.id.uuidString.lowercased(), key.name, "pdxadm_\(key.prefix)_…", key.label, format.string(from: key.createdAt),
                     key.expiresAt.map(format.string(from:)) ?? "-", key.revokedAt.map(format.string(from:)) ?? "-"]
                })
            }
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
        static let configuration = CommandConfiguration(abstract: "Revoke a key (a party's or an administrator's): it is refused from now on.")
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
            try await withStore(database) { store in
                // A party's key, else an administrator's (whose console sessions end with it).
                do {
                    try await store.revokeAPIKey(keyID, reason: reason, by: .administrator(actor))
                } catch is MarketNotFound {
                    try await store.revokeAdminKey(keyID, reason: reason, by: .administrator(actor))
                }
            }
            say("revoked key \(keyID.uuidString.lowercased())")
        }
    }
}
