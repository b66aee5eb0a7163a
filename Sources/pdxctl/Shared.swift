import ArgumentParser
import Foundation
import Logging
import MarketStore
import PDXCommandLine
import Postgres

// What every pdxctl command shares: the store it works through, and how it prints.

/// A store over a small pool, closed whatever happens.
func withStore<R: Sendable>(_ options: DatabaseOptions, _ body: (MarketStore) async throws -> R) async throws -> R {
    bootstrapLogging(level: .warning)
    let pool = PostgresPool(configuration: .init(connection: .init(connectionString: try options.required(), applicationName: "pdxctl"),
                                                 maxConnections: 2))
    do {
        let result = try await body(MarketStore(pool: pool))
        await pool.close()
        return result
    } catch {
        await pool.close()
        throw error
    }
}

/// The encoder of every JSON pdxctl prints or writes: snake_case keys and lower-case UUIDs, as the HTTP API
/// spells them, RFC 3339 times, sorted keys (pretty unless `pretty` is false).
func jsonText<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.dateEncodingStrategy = .iso8601
    let object = try JSONSerialization.jsonObject(with: try encoder.encode(value), options: [.fragmentsAllowed])
    var options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]
    if pretty { options.insert(.prettyPrinted) }
    return try JSONSerialization.data(withJSONObject: lowercasingUUIDs(object), options: options)
}

/// Prints a value as JSON (see `jsonText`).
func printJSON<T: Encodable>(_ value: T) throws {
    say(String(decoding: try jsonText(value), as: UTF8.self))
}

/// UUIDs are written in lower case, as PostgreSQL prints them (Foundation's encoder writes them in upper case).
private func lowercasingUUIDs(_ value: Any) -> Any {
    switch value {
    case let text as String: UUID(uuidString: text) != nil ? text.lowercased() : text
    case let array as [Any]: array.map(lowercasingUUIDs)
    case let object as [String: Any]: object.mapValues(lowercasingUUIDs)
    default: value
    }
}

func formatAge(_ seconds: Double) -> String {
    switch seconds {
    case ..<1: "0s"
    case ..<120: "\(Int(seconds))s"
    case ..<7200: "\(Int(seconds / 60))m"
    case ..<172_800: "\(Int(seconds / 3600))h"
    default: "\(Int(seconds / 86_400))d"
    }
}

func formatDate(_ date: Date?) -> String { date.map { $0.formatted(.iso8601) } ?? "-" }

/// `2027-06-30` (midnight UTC) or an RFC 3339 time.
func parseTime(_ text: String, option: String) throws -> Date {
    if let date = try? Date(text, strategy: .iso8601) { return date }
    if let day = try? Date(text + "T00:00:00Z", strategy: .iso8601) { return day }
    throw ValidationError("\(option) must be a date (YYYY-MM-DD) or an RFC 3339 time, got '\(text)'")
}

/// Who makes a change (for the audit trail), the database, JSON output: what every party, key and
/// application command takes (the pricing commands take `ChangeOptions`, which adds a required reason).
struct ActorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Who makes the change (default: the OS user).", valueName: "name"))
    var actor: String = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print JSON for scripts.") var json = false
}

/// An id given on the command line; `what` names it in the error.
func uuidArgument(_ text: String, _ what: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw ValidationError("\(what) must be a UUID, got '\(text)'") }
    return id
}

/// An expiry from `--expires-in` (a duration from now) or `--expires-at` (a time); nil when neither is given
/// and none is required.
func expiry(expiresIn: String?, expiresAt: String?, required: Bool) throws -> Date? {
    switch (expiresIn, expiresAt) {
    case (.some, .some): throw ValidationError("give --expires-in or --expires-at, not both")
    case (nil, nil):
        if required { throw ValidationError("give --expires-in (e.g. 365d) or --expires-at") }
        return nil
    case (let text?, nil):
        let duration = try parseDuration(text, option: "--expires-in")
        guard duration > .zero else { throw ValidationError("--expires-in must be more than 0") }
        return Date().addingTimeInterval(Double(duration.components.seconds))
    case (nil, let text?):
        let date = try parseTime(text, option: "--expires-at")
        guard date > Date() else { throw ValidationError("--expires-at must be in the future") }
        return date
    }
}
