import ArgumentParser
import Foundation
import Logging
import PDXCommandLine
import PDXBenchmarks
import PDXDev

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tell the market's story through the HTTP API, checking every step against the rules.",
        discussion: """
            An agency registers resources and grants authorizations (two operators in multi mode, one in \
            single mode); operators list products; demanders post demands, one for public welfare; the \
            workers match them; a demander accepts a match and the order is priced with its line items; an \
            administrator lowers a cap and the open quotes are repriced; an authorization is revoked and its \
            products leave the catalogue. Each step is printed in plain words, then a summary table. Exit \
            status 0 only if every step behaved as the rules say.

            Without --url it starts its own stack (`pdx dev` in a temporary folder: PostgreSQL, the API, 2 \
            workers) and stops it afterwards. With --url it uses a running API, and needs that stack's \
            database (DATABASE_URL or --database-url) for the administrator's steps: registering the \
            parties, issuing their keys, lowering the cap. Each telling uses a city of its own, so it can be \
            told again on the same database.

            Examples:
              swift run pdx demo
              pdx demo --url http://127.0.0.1:8080 --database-url postgresql://pdx@127.0.0.1:5433/pdx
            """
    )

    @Option(help: ArgumentHelp("A running API to tell the story through (default: start one).", valueName: "url"))
    var url: String?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        if let url {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw ValidationError("--url must be an http or https URL such as http://127.0.0.1:8080, got \(url)")
            }
            guard database.resolved != nil else {
                throw ValidationError("--url needs the stack's database for the administrator's steps: set DATABASE_URL or pass --database-url")
            }
        }
    }

    func run() async throws {
        log.bootstrap()
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let story = DemoStory(options: .init(apiURL: url.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }, databaseURL: database.resolved,
                                             executable: executable),
                              logger: Logger(label: "pdx.demo"))
        let steps = try await story.run(say: say)
        for line in DemoStory.summary(steps) { say(line) }
        if steps.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}
