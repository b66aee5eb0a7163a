import ArgumentParser
import Foundation
import JobQueue
import Logging
import MarketStore
import MarketWorkers
import PDXCommandLine
import PDXBenchmarks
import PDXDev
import ServiceLifecycle
import UnixSignals

struct Work: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run jobs from the queue until stopped (SIGTERM or Ctrl-C stop it gracefully).",
        discussion: """
            Claims jobs of the given queues in batches, runs up to --concurrency of each queue at once, \
            and, when elected leader among all worker processes, rescues jobs of crashed workers, starts \
            scheduled and retried jobs on time and prunes old finished ones. At SIGTERM it stops claiming, \
            gives running jobs --shutdown-timeout to finish, then hands the rest back, and gives the \
            writes of finished jobs' ends up to 10 s more before stopping without them (those jobs run \
            again once their leases expire).

            By default it serves every queue the market's jobs go to (default, match); --queues narrows \
            it, for example to run matching on machines of its own. Serving match, it holds the listed \
            catalogue in memory (kept current through LISTEN pdx_catalogue) and matches the demands whose \
            jobs run at once together, up to 64 in one transaction.

            Examples:
              DATABASE_URL=postgresql://pdx@db/pdx pdx work
              pdx work --queues match --concurrency 50
              pdx work --diagnostics --lease 5s     # with the pdx.* test job kinds, short leases
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Queues to work, comma-separated, or all: every queue of the market's jobs (default, match).", valueName: "names"))
    var queues: String = "all"

    @Option(help: ArgumentHelp("Jobs of each queue running at once.", valueName: "n"))
    var concurrency: Int = 100

    @Option(help: ArgumentHelp("Most jobs claimed in one round trip.", valueName: "n"))
    var claimBatch: Int = 100

    @Option(help: ArgumentHelp("How long a claimed job is this worker's without renewal (renewed every third).", valueName: "duration"))
    var lease: String = "60s"

    @Option(help: ArgumentHelp("At shutdown, how long running jobs may take before they are handed back.", valueName: "duration"))
    var shutdownTimeout: String = "10s"

    @Option(help: ArgumentHelp("Look for work this often even without notifications.", valueName: "duration"))
    var pollInterval: String = "1s"

    @Flag(help: "Also run the diagnostic job kinds (pdx.noop, pdx.sleep, pdx.fail, pdx.effect, pdx.record).")
    var diagnostics = false

    @Flag(help: "Never act as the maintenance leader (another process does).")
    var noMaintenance = false

    @Flag(help: "Deliver to plain http webhook URLs (development on one machine); otherwise https only.")
    var allowHTTPWebhooks = false

    @Flag(help: "Deliver to webhooks on loopback, private or link-local addresses (development on one machine); otherwise public addresses only, checked before every delivery.")
    var allowPrivateWebhooks = false

    @Flag(help: "Commit claims and completions without waiting for the disk (synchronous_commit off): faster, but a server crash may make the last few jobs run again.")
    var asyncBookkeeping = false

    @OptionGroup var log: LogOptions

    var queueNames: [String] {
        queues == "all" ? MarketWorkers.queues
            : queues.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func validate() throws {
        guard !queueNames.isEmpty, queueNames.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 128 }) else {
            throw ValidationError("--queues must be comma-separated names of 1 to 128 bytes, got '\(queues)'")
        }
        guard Set(queueNames).count == queueNames.count else {
            throw ValidationError("--queues must not name a queue twice, got '\(queues)'")
        }
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 10000, got \(concurrency)") }
        guard (1...10_000).contains(claimBatch) else { throw ValidationError("--claim-batch must be from 1 to 10000, got \(claimBatch)") }
        guard try parseDuration(lease, option: "--lease") >= .seconds(1) else { throw ValidationError("--lease must be at least 1s") }
        _ = try parseDuration(shutdownTimeout, option: "--shutdown-timeout")
        guard try parseDuration(pollInterval, option: "--poll-interval") > .zero else { throw ValidationError("--poll-interval must be positive") }
    }

    func run() async throws {
        log.bootstrap()
        let logger = Logger(label: "pdx.work")
        var configuration = JobWorker.Configuration(
            queues: Dictionary(uniqueKeysWithValues: queueNames.map { ($0, concurrency) }),
            claimBatch: claimBatch,
            pollInterval: try parseDuration(pollInterval, option: "--poll-interval"),
            lease: try parseDuration(lease, option: "--lease"),
            shutdownTimeout: try parseDuration(shutdownTimeout, option: "--shutdown-timeout"))
        configuration.maintenance.enabled = !noMaintenance
        configuration.asyncBookkeeping = asyncBookkeeping
        // Short leases (tests, chaos drills) want rescues to follow soon after.
        configuration.maintenance.rescueInterval = min(configuration.maintenance.rescueInterval, configuration.lease / 2)
        let process = try WorkerProcess(
            databaseURL: try database.required(), configuration: configuration, diagnostics: diagnostics,
            webhooks: WebhookPolicy(allowHTTP: allowHTTPWebhooks, allowPrivateAddresses: allowPrivateWebhooks), logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: process.pool)] + (process.catalogue.map { [.init(service: $0)] } ?? []) + [
                .init(service: process.worker, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}
