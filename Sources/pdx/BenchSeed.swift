import ArgumentParser
import Foundation
import Logging
import MarketStore
import Migrations
import PDXCommandLine
import PDXBenchmarks
import PDXDev
import Postgres

struct BenchSeed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Fill a database with a synthetic market for the benchmarks (deterministic for a seed).",
        discussion: """
            Migrates the database, then adds agencies, operators and demanders, resources, multi-operator \
            authorizations, listed products and open demand requests, drawn from --seed: the same seed \
            gives the same market. A seed can be used once per database. Rows carry no audit events and \
            enqueue no jobs. Prints progress, then the time taken.

            Examples:
              DATABASE_URL=postgresql://pdx@localhost/pdx_bench pdx bench seed
              pdx bench seed --products 1000 --demands 200 --seed 7 --database-url postgresql://pdx@localhost/scratch
            """
    )

    @Option(help: ArgumentHelp("Listed products to create.", valueName: "count"))
    var products = 100_000
    @Option(help: ArgumentHelp("Open demand requests to create.", valueName: "count"))
    var demands = 20_000
    @Option(help: ArgumentHelp("The generator's seed.", valueName: "number"))
    var seed: UInt64 = 1
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1...10_000_000).contains(products) else { throw ValidationError("--products must be from 1 to 10000000, got \(products)") }
        guard (0...10_000_000).contains(demands) else { throw ValidationError("--demands must be from 0 to 10000000, got \(demands)") }
        _ = try database.required(hint: "the seed goes into an existing database")
    }

    func run() async throws {
        log.bootstrap()
        let logger = Logger(label: "pdx.bench.seed")
        let configuration = PostgresConfiguration(connectionString: try database.required(), applicationName: "pdx bench seed")
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2), logger: logger)
        do {
            try await pool.withConnection { connection in _ = try await Migrator.embedded(logger: logger).migrate(on: connection) }
            let start = ContinuousClock.now
            let progress = ProgressLine("seed")
            try await SyntheticMarket(products: products, demands: demands, seed: seed).generate(on: pool, progress: { progress.update($0) })
            progress.finish("\(products) products, \(demands) demands")
            let seconds = (ContinuousClock.now - start) / .seconds(1)
            say(String(format: "seed time: %.1f s", seconds))
            say("seed rate: \(Int(Double(products + demands) / seconds)) rows/s")
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }
}
