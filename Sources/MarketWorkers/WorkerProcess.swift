public import JobQueue
public import Logging
public import Postgres
public import MarketStore
import MarketJobs

/// What `pdx work` runs: the worker, and a pool for its handlers' own work, with the job kinds this build
/// knows.
public struct WorkerProcess: Sendable {
    /// Connections for handlers (the worker keeps its own for claims and completions).
    public let pool: PostgresPool
    public let worker: JobWorker
    /// Keeps the catalogue in memory current, when this process matches demands.
    public let catalogue: CatalogueFollower?

    /// `webhooks`: where deliveries may go (development allows loopback and plain http).
    public init(databaseURL: String, configuration: JobWorker.Configuration, diagnostics: Bool, webhooks: WebhookPolicy = WebhookPolicy(),
                logger: Logger) throws {
        var connection = PostgresConfiguration(connectionString: databaseURL, applicationName: "pdx work")
        connection.connectTimeout = .seconds(10)
        let pool = PostgresPool(configuration: .init(connection: connection, maxConnections: 16), logger: logger)
        var registry = JobRegistry()
        if diagnostics { DiagnosticJobs.register(into: &registry, pool: pool, workerID: configuration.workerID) }
        let store = MarketStore(pool: pool)
        if configuration.queues.keys.contains(matchQueue) {
            let catalogue = try CatalogueFollower(catalogue: CatalogueMemory(), pool: pool, database: connection, logger: logger)
            let matcher = DemandMatcher(store: store, catalogue: catalogue.catalogue, logger: logger)
            MarketWorkers.register(into: &registry, store: store, webhooks: webhooks, matcher: matcher, logger: logger)
            self.catalogue = catalogue
        } else {
            MarketWorkers.register(into: &registry, store: store, webhooks: webhooks, logger: logger)
            self.catalogue = nil
        }
        self.pool = pool
        self.worker = try JobWorker(configuration: configuration, registry: registry, database: connection, logger: logger)
    }
}
