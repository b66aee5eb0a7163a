public import ArgumentParser
public import Logging
import PDXRuntime

struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "The database, as a libpq URI or key=value string (default: $DATABASE_URL).", valueName: "url"))
    var databaseURL: String?

    var resolved: String? { resolveDatabaseURL(databaseURL) }
}

struct LogOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How much to log (to stderr).", valueName: "level"))
    var logLevel: Logger.Level = .notice

    func bootstrap() { bootstrapLogging(level: logLevel) }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
