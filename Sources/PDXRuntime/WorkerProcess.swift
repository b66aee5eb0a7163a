public import JobQueue
public import Logging
public import Postgres

/// What `pdx work` runs: a pool sized for the worker and the worker itself, with the job kinds this
/// build knows.
public struct WorkerProcess: Sendable {
    public let pool: PostgresPool
    public let worker: JobWorker

    public init(databaseURL: String, configuration: JobWorker.Configuration, diagnostics: Bool, logger: Logger) throws {
        var connection = PostgresConfiguration(connectionString: databaseURL, applicationName: "pdx work")
        connection.connectTimeout = .seconds(10)
        // One connection per queue for claims, plus completions, heartbeats and handlers' own queries.
        let pool = PostgresPool(
            configuration: .init(connection: connection, maxConnections: configuration.queues.count + 8),
            logger: logger)
        var registry = JobRegistry()
        if diagnostics { DiagnosticJobs.register(into: &registry, pool: pool, workerID: configuration.workerID) }
        self.pool = pool
        self.worker = try JobWorker(configuration: configuration, registry: registry, pool: pool, logger: logger)
    }
}
