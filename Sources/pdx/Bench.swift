import ArgumentParser
import Foundation
import Logging
import PDXCommandLine
import PDXRuntime

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure pdx; each figure is printed as `name: value unit`.",
        subcommands: [BenchPostgres.self]
    )
}

struct BenchPostgres: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg",
        abstract: "Prepared single-row SELECTs per second through pdx's client, beside pgbench -S -M prepared.",
        discussion: """
            Both run against the same database in the same invocation: a throwaway PostgreSQL cluster, or
            DATABASE_URL's database (pgbench -i then creates its pgbench_* tables there). Each run gives each
            side --seconds seconds, interleaved one second at a time in alternating order; the summary gives
            medians over the runs, and the ratio is the median of the runs' pdx/pgbench ratios.

            Example:
              swift run -c release pdx bench pg --clients 1,4 --seconds 10 --runs 3
            """
    )

    @Option(help: ArgumentHelp("Client counts to compare, comma-separated.", valueName: "n,m"))
    var clients: String = "1,4"

    @Option(help: ArgumentHelp("Seconds per side per run.", valueName: "seconds"))
    var seconds: Int = 5

    @Option(help: ArgumentHelp("Runs per client count (the summary reports medians).", valueName: "count"))
    var runs: Int = 3

    @Option(help: ArgumentHelp("pgbench scale factor (100,000 accounts each).", valueName: "factor"))
    var scale: Int = 1

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    var clientCounts: [Int] { clients.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        let counts = clientCounts
        guard !counts.isEmpty, counts.count == clients.split(separator: ",").count, counts.allSatisfy({ (1...256).contains($0) }) else {
            throw ValidationError("--clients must be a comma-separated list of numbers from 1 to 256, got '\(clients)'")
        }
        guard (1...3600).contains(seconds) else { throw ValidationError("--seconds must be from 1 to 3600, got \(seconds)") }
        guard (1...99).contains(runs) else { throw ValidationError("--runs must be from 1 to 99, got \(runs)") }
        guard (1...1000).contains(scale) else { throw ValidationError("--scale must be from 1 to 1000, got \(scale)") }
    }

    func run() async throws {
        log.bootstrap()
        let benchmark = PostgresBenchmark(
            options: .init(databaseURL: database.resolved, clients: clientCounts, duration: .seconds(seconds), runs: runs, scale: scale),
            logger: Logger(label: "pdx.bench"))
        let figures = try await benchmark.run(say: say)
        for line in PostgresBenchmark.summary(figures) { say(line) }
    }
}

