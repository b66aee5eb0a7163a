public import ArgumentParser
import Foundation
public import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `--database-url`, falling back to `DATABASE_URL`.
public struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "The database, as a libpq URI or key=value string (default: $DATABASE_URL).", valueName: "url"))
    public var databaseURL: String?

    public init() {}

    public var resolved: String? { resolveDatabaseURL(databaseURL) }

    /// The database, or an error that says how to name one.
    public func required(hint: String = "") throws -> String {
        guard let url = resolved else {
            throw ValidationError("no database: set DATABASE_URL or pass --database-url" + (hint.isEmpty ? "" : " (\(hint))"))
        }
        return url
    }
}

/// `--log-level`; logs go to stderr.
public struct LogOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How much to log (to stderr).", valueName: "level"))
    public var logLevel: Logger.Level = .notice

    public init() {}

    public func bootstrap() { bootstrapLogging(level: logLevel) }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `--yes`, or a question on the terminal, before anything that deletes or changes many things.
public struct ConfirmationOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Do it without asking.")
    public var yes = false

    public init() {}

    /// True when confirmed; without a terminal to ask on, an error that says to pass --yes.
    public func confirm(_ question: String) throws -> Bool {
        if yes { return true }
        guard isatty(STDIN_FILENO) == 1 else {
            throw CommandError("\(question) Refusing without a terminal to ask on: pass --yes to confirm.")
        }
        print("\(question) [y/N] ", terminator: "")
        let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return answer == "y" || answer == "yes"
    }
}

/// A failure to report in one line, without the usage text that a `ValidationError` brings.
public struct CommandError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Parses durations such as `500ms`, `90s`, `15m`, `24h`, `7d` (a bare number is seconds).
public func parseDuration(_ text: String, option: String) throws -> Duration {
    // Milliseconds per unit; a bare number is seconds.
    let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
    var digits = Substring(text)
    var unit: Int64 = 1_000
    if let (suffix, milliseconds) = units.first(where: { text.hasSuffix($0.0) }) {
        unit = milliseconds
        digits = digits.dropLast(suffix.count)
    }
    guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = Int64(digits), value >= 0, value <= Int64.max / unit / 1_000_000 else {
        throw ValidationError("\(option) must be a duration such as 500ms, 90s, 15m, 24h or 7d, got '\(text)'")
    }
    return .milliseconds(value * unit)
}

/// Prints rows as an aligned table with a header.
public func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
        }.joined(separator: "  ")
    }
    say(line(header))
    for row in rows { say(line(row)) }
}

