import Foundation
public import Logging

/// The database a command should use: `--database-url`, else a non-empty `DATABASE_URL`.
public func resolveDatabaseURL(_ option: String?) -> String? {
    if let option, !option.isEmpty { return option }
    let environment = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
    return environment.isEmpty ? nil : environment
}

/// Sends log lines to stderr at `level` (once per process; executables call it first thing).
public func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// Writes a line to stdout immediately (also when stdout is a pipe).
@Sendable public func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// "150018" -> "15.18".
public func describePostgresVersion(_ number: Int) -> String {
    number >= 100_000 ? "\(number / 10_000).\(number % 10_000)" : "\(number / 10_000).\(number / 100 % 100).\(number % 100)"
}
