import Foundation
public import JobQueue
public import Logging
public import MarketStore
public import MarketJobs
public import Postgres
public import ServiceLifecycle
import Synchronization

/// Gathers the `match_demand` jobs running at once in a worker and matches them together: one read of
/// their demands, candidates from the catalogue in memory, and one transaction for all their proposals,
/// audit events, state changes and the jobs' completions (group commit). While a batch is being written the
/// next one gathers, so batches grow with the load and a lone job waits for nobody. A batch that fails is
/// done again one job at a time, so one bad demand costs only its own job.
public final class DemandMatcher: Sendable {
    typealias Waiter = (job: Job<MatchDemandJob>, continuation: CheckedContinuation<Void, any Error>)

    let store: MarketStore
    let catalogue: CatalogueMemory?
    /// The most jobs matched in one transaction.
    let batchLimit: Int
    /// Batches matched at once.
    let lanes: Int
    let logger: Logger
    private let state = Mutex((waiting: [Waiter](), running: 0))

    public init(store: MarketStore, catalogue: CatalogueMemory?, batchLimit: Int = 64, lanes: Int = 2, logger: Logger) {
        self.store = store
        self.catalogue = catalogue
        self.batchLimit = max(1, batchLimit)
        self.lanes = max(1, lanes)
        self.logger = logger
    }

    /// Matches the job's demand and completes the job in the same transaction; returns once both committed.
    public func match(_ job: Job<MatchDemandJob>) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startLane = state.withLock { state in
                state.waiting.append((job, continuation))
                guard state.running < lanes else { return false }
                state.running += 1
                return true
            }
            if startLane { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                guard !state.waiting.isEmpty else {
                    state.running -= 1
                    return []
                }
                let count = min(batchLimit, state.waiting.count)
                defer { state.waiting.removeFirst(count) }
                return Array(state.waiting.prefix(count))
            }
            guard !batch.isEmpty else { return }
            await run(batch)
        }
    }

    private func run(_ batch: [Waiter]) async {
        let jobs = batch.map(\.job)
        do {
            let results = try await store.matchDemands(jobs.map(\.args.demandID), catalogue: catalogue) { connection in
                try await Job.complete(jobs, on: connection)
            }
            logger.debug("matched demands", metadata: [
                "match.demands": "\(jobs.count)", "match.proposed": "\(results.values.reduce(0) { $0 + $1.proposed.count })",
                "match.candidates": "\(results.values.reduce(0) { $0 + $1.candidates })",
            ])
            for missing in jobs where results[missing.args.demandID] == nil {
                logger.notice("no such demand to match", metadata: ["demand.id": "\(missing.args.demandID)", "job.id": "\(missing.id)"])
            }
            for waiter in batch { waiter.continuation.resume() }
        } catch where batch.count > 1 {
            logger.info("a batch of demands could not be matched together; matching them one by one", metadata: [
                "match.demands": "\(batch.count)", "error": "\(error)",
            ])
            for waiter in batch { await run([waiter]) }
        } catch {
            batch[0].continuation.resume(throwing: error)
        }
    }
}

/// Keeps a worker's catalogue in memory current (`CatalogueMemory.follow`) until graceful shutdown.
public struct CatalogueFollower: Service {
    public let catalogue: CatalogueMemory
    let pool: PostgresPool
    let listener: PostgresListener
    let logger: Logger

    public init(catalogue: CatalogueMemory, pool: PostgresPool, database: PostgresConfiguration, logger: Logger) throws {
        var configuration = database
        configuration.applicationName = "pdx work catalogue"
        self.catalogue = catalogue
        self.pool = pool
        self.listener = try PostgresListener(configuration: configuration, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        let started = ContinuousClock.now
        let loaded = Task { [catalogue, logger] in
            // Said once, when the first load is in: until then matching reads the database.
            while !Task.isCancelled && !catalogue.isReady { try? await Task.sleep(for: .milliseconds(50)) }
            if catalogue.isReady {
                logger.info("catalogue in memory", metadata: [
                    "catalogue.products": "\(catalogue.count)", "catalogue.load_ms": "\((ContinuousClock.now - started) / .milliseconds(1))",
                ])
            }
        }
        defer { loaded.cancel() }
        try await cancelWhenGracefulShutdown { [catalogue, listener, pool, logger] in
            try await catalogue.follow(listener, pool: pool) { error in
                logger.warning("could not keep the catalogue in memory current; matching reads the database until it is loaded again",
                               metadata: ["error": "\(error)"])
            }
        }
        listener.shutdown()
    }
}
