public import JobQueue
public import Logging
public import Postgres
public import MarketStore

/// What `pdx work` runs: the worker, and a pool for its handlers' own work, with the job kinds this build
/// knows.
public struct WorkerProcess: Sendable {
    /// Connections for handlers (the worker keeps its own for claims and completions).
    public let pool: PostgresPool
    public let worker: JobWorker

    /// `webhooks`: where deliveries may go (development allows loopback and plain http).
    public init(databaseURL: String, configuration: JobWorker.Configuration, diagnostics: Bool, webhooks: WebhookPolicy = WebhookPolicy(),
                logger: Logger) throws {
        var connection = PostgresConfiguration(connectionString: databaseURL, applicationName: "pdx work")
        connection.connectTimeout = .seconds(10)
        let pool = PostgresPool(configuration: .init(connection: connection, maxConnections: 16), logger: logger)
        var registry = JobRegistry()
        if diagnostics { DiagnosticJobs.register(into: &registry, pool: pool, workerID: configuration.workerID) }
        MarketWorkers.register(into: &registry, store: MarketStore(pool: pool), webhooks: webhooks, logger: logger)
        self.pool = pool
        self.worker = try JobWorker(configuration: configuration, registry: registry, database: connection, logger: logger)
    }
}
