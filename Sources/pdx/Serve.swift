import ArgumentParser
import Foundation
import Logging
import MarketAPI
import MarketStore
import Metrics
import PDXCommandLine
import PDXBenchmarks
import PDXDev
import Postgres
import Prometheus
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the HTTP JSON API until SIGTERM or Ctrl-C.",
        discussion: """
            Answers /healthz (the process is alive), /readyz (the database is reachable and its migrations \
            current), /metrics (Prometheus text), /openapi.yaml and /openapi.json (the contract), /v1 (authenticated with \
            API keys from `pdxctl keys create`) and /console (the web console: administrators sign in with keys from \
            `pdxctl keys create --admin`, parties with their API keys; its cookies are Secure, so serve it over https). Stateless: run as many as needed behind a load balancer; \
            each process rate-limits every key on its own. The database must be migrated (`pdx migrate`).

            Examples:
              DATABASE_URL=postgresql://pdx@db/pdx pdx serve --port 8080
              pdx serve --host 0.0.0.0 --port 8080 --max-connections 20 --rate-limit 50 --rate-burst 100
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Port to listen on.", valueName: "port"))
    var port = 8080

    @Option(help: ArgumentHelp("Most database connections for requests.", valueName: "n"))
    var maxConnections = 16

    @Option(help: ArgumentHelp("Requests a second each API key may make on average (0: no limit).", valueName: "n"))
    var rateLimit: Double = 100

    @Option(help: ArgumentHelp("Requests each API key may make at once, above its rate.", valueName: "n"))
    var rateBurst = 200

    @Option(help: ArgumentHelp("Listed products kept in memory, dropped as they change (0: read every one from the database).", valueName: "n"))
    var catalogueCache = 50_000

    @Flag(help: "Accept http webhook URLs (development on one machine); otherwise https only.")
    var allowHTTPWebhooks = false

    @Flag(help: "Accept webhook URLs on loopback, private or link-local addresses (development on one machine); otherwise public addresses only.")
    var allowPrivateWebhooks = false

    @Flag(help: "Console cookies without Secure, so a browser keeps them over plain http (development only); otherwise https only.")
    var insecureConsoleCookies = false

    @OptionGroup var log: LogOptions

    func validate() throws {
        guard rateLimit >= 0, rateLimit.isFinite else { throw ValidationError("--rate-limit must be 0 (no limit) or more, got \(rateLimit)") }
        guard (0...10_000_000).contains(catalogueCache) else { throw ValidationError("--catalogue-cache must be from 0 to 10000000, got \(catalogueCache)") }
        guard rateBurst >= 1 else { throw ValidationError("--rate-burst must be at least 1, got \(rateBurst)") }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        guard (1...1_000).contains(maxConnections) else { throw ValidationError("--max-connections must be from 1 to 1000, got \(maxConnections)") }
        guard !host.isEmpty else { throw ValidationError("--host must not be empty") }
        _ = try database.required(hint: "the API serves an existing, migrated database")
    }

    func run() async throws {
        log.bootstrap()
        let logger = Logger(label: "pdx.serve")
        var connection = PostgresConfiguration(connectionString: try database.required(), applicationName: "pdx serve")
        connection.connectTimeout = .seconds(5)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let server = try APIServer(database: connection, options: .init(
            host: host, port: port, maxConnections: maxConnections, rateLimit: rateLimit > 0 ? RateLimit(perSecond: rateLimit, burst: rateBurst) : nil,
            catalogueCache: catalogueCache, webhooks: WebhookPolicy(allowHTTP: allowHTTPWebhooks, allowPrivateAddresses: allowPrivateWebhooks),
            metrics: registry, consoleSecureCookies: !insecureConsoleCookies), logger: logger)
        let group = ServiceGroup(configuration: .init(services: server.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
