#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CoreMetrics
public import Logging
public import Postgres
public import ServiceLifecycle
import Synchronization

/// Runs jobs from the queue table in this process: one producer per queue that claims in batches
/// (`FOR UPDATE SKIP LOCKED`), handlers run concurrently up to each queue's limit with a time limit per
/// kind, completions written in batches, leases extended while jobs run, and, when this process is the
/// elected leader, the maintenance every queue needs (rescue, schedule, prune).
///
/// At graceful shutdown it stops claiming, lets running jobs finish for `shutdownTimeout`, cancels and
/// hands back the rest, writes every completion and returns: a clean stop leaves nothing `running`.
public final class JobWorker: Service, Sendable {
    public let configuration: Configuration
    let registry: JobRegistry
    let pool: PostgresPool
    let logger: Logger
    private let listenerConfiguration: PostgresConfiguration
    private let producers: [String: Producer]
    let completer: Completer
    let executions = Executions()
    private let stopping = Atomic<Bool>(false)
    private let leader = Atomic<Bool>(false)

    /// - Parameters:
    ///   - database: where the queue lives. The worker opens its own connections for claims, completions,
    ///     heartbeats, LISTEN and maintenance; handlers bring their own pool for their work.
    public init(
        configuration: Configuration,
        registry: JobRegistry,
        database: PostgresConfiguration,
        logger: Logger = Logger(label: "pdx.jobs")
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.registry = registry
        var logger = logger
        logger[metadataKey: "worker.id"] = "\(configuration.workerID)"
        self.logger = logger
        self.listenerConfiguration = database
        var bookkeeping = database
        if configuration.asyncBookkeeping {
            // Claims, completions and leases may be lost in a server crash without harm: the jobs run
            // again (at least once), and transactional handlers complete in their own durable commits.
            bookkeeping.sessionSettings["synchronous_commit"] = "off"
        }
        self.pool = PostgresPool(
            configuration: .init(
                connection: bookkeeping,
                maxConnections: configuration.queues.count * configuration.claimers + configuration.completionWriters + 1),
            logger: logger)
        let factory = configuration.metricsFactory ?? MetricsSystem.factory
        var producers: [String: Producer] = [:]
        for (queue, concurrency) in configuration.queues {
            producers[queue] = Producer(
                queue: queue, concurrency: concurrency, batch: configuration.claimBatch,
                metrics: QueueMetrics(queue: queue, factory: factory))
        }
        self.producers = producers
        self.completer = Completer(pool: pool, batchLimit: configuration.completionBatch, logger: logger) { [producers] in
            for producer in producers.values { producer.wake.signal() }
        }
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Producers claim nothing while this many finished jobs wait to be recorded: jobs claimed but not
    /// recorded stay bounded even when the database writes slower than handlers finish.
    var completionBacklogLimit: Int { max(2 * configuration.completionBatch, 256) }

    /// Whether this process is the maintenance leader right now.
    public var isLeader: Bool { leader.load(ordering: .relaxed) }

    /// Attempts this worker has ended and recorded in the database since it started, however they
    /// ended (completed, failed, snoozed, cancelled or handed back).
    public var recordedAttempts: Int { completer.recordedCount }

    /// Jobs running in this process right now.
    public var runningJobs: Int { producers.values.reduce(0) { $0 + $1.runningCount } }

    /// Starts stopping, as a graceful shutdown does.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        for producer in producers.values { producer.wake.signal() }
    }

    public func run() async throws {
        logger.info("worker starting", metadata: [
            "job.queues": "\(configuration.queues.keys.sorted().joined(separator: ","))",
            "job.kinds": "\(registry.kinds.joined(separator: ","))"])
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await runAll()
            } onCancel: {
                stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        logger.info("worker stopped")
    }

    /// At shutdown, after the running jobs' grace, how long the ends not yet recorded may keep failing to be
    /// written before the worker stops without them (a service manager's stop timeout must allow for it).
    public static let lastWritesTimeout = Duration.seconds(10)

    /// The worker's support loops, as its shutdown tells them apart.
    private enum SupportLoop { case completer, shutdownTimeout, other }

    private func runAll() async {
        await withTaskGroup(of: SupportLoop.self) { support in
            support.addTask { await self.completer.run(writers: self.configuration.completionWriters); return .completer }
            support.addTask { await self.tick(); return .other }
            support.addTask { await self.heartbeat(); return .other }
            if configuration.listens { support.addTask { await self.listen(); return .other } }
            if configuration.maintenance.enabled {
                support.addTask { await Maintenance(worker: self).run(); return .other }
            }
            // Not `pool.run()`: that would close the pool at graceful shutdown, before the last completions.
            support.addTask { await self.pool.keepHealthy(); return .other }
            await withTaskGroup(of: Void.self) { producing in
                for producer in producers.values {
                    producing.addTask { await producer.run(worker: self, claimers: self.configuration.claimers) }
                }
            }
            // Every producer has returned: every job ended and reported. Write the rest (leases still renewed),
            // giving up if the writes keep failing for 10 s (`lastWritesTimeout`), then stop.
            completer.finish()
            let writeTimeout = Self.lastWritesTimeout
            support.addTask {
                try? await Task.sleep(for: writeTimeout)
                return .shutdownTimeout
            }
            // (A loop that ended earlier, like a listener that could not listen, does not end the wait.)
            while let ended = await support.next(), ended == .other {}
            let unwritten = completer.abandon()
            if unwritten > 0 {
                logger.error("stopping before the ends of some finished jobs were written (still waiting, or in a write that may yet commit); those not written run again once their leases expire",
                             metadata: ["job.count": "\(unwritten)", "timeout": "\(writeTimeout)"])
            }
            support.cancelAll()
        }
        await pool.close()
    }

    // MARK: Claiming and running

    func claim(queue: String, limit: Int, recording completions: [Completion] = [],
               on connection: isolated PostgresConnection) async throws -> [ClaimedJob] {
        let workerID = configuration.workerID
        let leaseSeconds = configuration.lease.seconds
        let claim: PostgresQuery = """
            WITH next AS (
                SELECT id FROM pdx_jobs
                WHERE state = 'available' AND queue = \(queue)
                ORDER BY priority, scheduled_at, id
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE pdx_jobs AS j
            SET state = 'running', attempt = j.attempt + 1, attempted_at = now(), attempted_by = \(workerID),
                lease_expires_at = now() + make_interval(secs => \(leaseSeconds))
            FROM next WHERE j.id = next.id
            RETURNING j.id, j.kind, j.args, j.attempt, j.max_attempts, j.scheduled_at, j.created_at
            """
        // Completions ride along: one round trip and one commit for both.
        let statements = Completer.statements(for: completions) + [claim]
        let rows = statements.count == 1
            ? try await connection.query(claim)
            : try await connection.pipeline(statements).last!
        return try rows.map { row in
            let (id, kind, args, attempt, maxAttempts, availableAt, createdAt) = try row.decode(
                Int64.self, String.self, String.self, Int16.self, Int16.self, Date.self, Date.self)
            return ClaimedJob(id: id, queue: queue, kind: kind, args: args, attempt: Int(attempt),
                              maxAttempts: Int(maxAttempts), availableAt: availableAt, createdAt: createdAt)
        }
    }

    /// Starts one claimed job in a task of its own; its end goes to the completer.
    func start(_ job: ClaimedJob, for producer: Producer) {
        let metrics = producer.metrics
        metrics.wait.recordSeconds(max(0, Date().timeIntervalSince(job.availableAt)))
        guard let entry = registry.entry(for: job.kind) else {
            let known = registry.kinds.joined(separator: ", ")
            finish(job, .failed(JobDiscard("no handler for job kind \(job.kind) in this worker (it handles: \(known))")), metrics)
            producer.jobFinished()
            return
        }
        let execution = Execution(job: job, timeout: entry.timeout, leaseEnds: .now + configuration.lease * 0.9)
        executions.add(execution)
        execution.attach(Task {
            let started = ContinuousClock.now
            let result: AttemptResult
            do {
                result = try await entry.run(job)
            } catch {
                result = .failed(error)
            }
            metrics.run.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            self.end(execution, result, for: producer)
        })
    }

    /// Reports an attempt's end once, whether the handler returned or shutdown gave up waiting for it.
    func end(_ execution: Execution, _ result: AttemptResult, for producer: Producer) {
        guard let result = execution.report(result) else { return }
        executions.remove(execution)
        finish(execution.job, result, producer.metrics)
        producer.jobFinished()
    }

    private func finish(_ job: ClaimedJob, _ result: AttemptResult, _ metrics: QueueMetrics) {
        var completion = Completion(id: job.id, attempt: job.attempt, state: .completed)
        switch result {
        case .completedInTransaction:
            metrics.completed.increment()
            completer.recordedElsewhere()
            return
        case .outcome(.completed):
            metrics.completed.increment()
        case .outcome(.snooze(let delay)):
            completion.state = .scheduled
            completion.runAt = Date(timeIntervalSinceNow: delay.seconds)
            completion.refundsAttempt = true
        case .outcome(.cancel(let reason)):
            completion.state = .cancelled
            completion.error = "cancelled by its handler: \(reason)"
        case .failed(let error as JobDiscard):
            completion.state = .discarded
            completion.error = error.reason
            metrics.discarded.increment()
        case .failed(let error):
            fail(&completion, job, because: describe(error), metrics)
        case .timedOut(let limit):
            fail(&completion, job, because: "timed out after \(limit) (the kind's time limit)", metrics)
        case .leaseLost:
            // If another attempt owns the job now, this write changes nothing (it names this attempt).
            fail(&completion, job, because: "stopped: this worker could not renew the job's lease in time, or another attempt took the job over", metrics)
        case .handedBack:
            completion.state = .available
            completion.runAt = Date()
            completion.refundsAttempt = true
        }
        if completion.error != nil && completion.state != .cancelled {
            logger.notice("job failed", metadata: [
                "job.id": "\(job.id)", "job.kind": "\(job.kind)", "job.attempt": "\(job.attempt)",
                "job.state": "\(completion.state.rawValue)"])
        }
        completer.add(completion)
    }

    private func fail(_ completion: inout Completion, _ job: ClaimedJob, because reason: String, _ metrics: QueueMetrics) {
        completion.error = reason
        if job.attempt >= job.maxAttempts {
            completion.state = .discarded
            metrics.discarded.increment()
        } else {
            completion.state = .retryable
            completion.runAt = Date(timeIntervalSinceNow: configuration.retryDelay(afterAttempt: job.attempt).seconds)
            metrics.failed.increment()
        }
    }

    private func describe(_ error: any Error) -> String {
        let text = (error as? PostgresError).map(\.debugDescription) ?? String(describing: error)
        return text.count > 2_000 ? String(text.prefix(2_000)) + "…" : text
    }

    // MARK: Background loops

    /// Wakes producers at every poll interval (the fallback for missed notifications) and ends attempts
    /// past their time limit.
    private func tick() async {
        var lastPoll = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            executions.expireOverdue()
            if ContinuousClock.now - lastPoll >= configuration.pollInterval {
                lastPoll = .now
                for producer in producers.values { producer.wake.signal() }
            }
        }
    }

    /// Extends the leases of the jobs running here, every third of the lease, and of those that ended here
    /// but whose ends are not written yet. An attempt whose job is no longer its own (rescued after a
    /// stall, cancelled by an administrator) is stopped at once; one whose lease could not be renewed is
    /// stopped by the watchdog just before the lease ends.
    private func heartbeat() async {
        let workerID = configuration.workerID
        let leaseSeconds = configuration.lease.seconds
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.lease / 3)
            let running = executions.all
            let ended = completer.unrecorded
            guard !running.isEmpty || !ended.isEmpty else { continue }
            let ids = running.map(\.job.id) + ended.map(\.id)
            let attempts = (running.map(\.job.attempt) + ended.map(\.attempt)).map { Int16(clamping: $0) }
            let started = ContinuousClock.now
            do {
                let owned = try await pool.query("""
                    UPDATE pdx_jobs AS j SET lease_expires_at = now() + make_interval(secs => \(leaseSeconds))
                    FROM unnest(\(ids), \(attempts)) AS u(id, attempt)
                    WHERE j.id = u.id AND j.attempt = u.attempt AND \(unsafeRaw: isRunning) AND j.attempted_by = \(workerID)
                    RETURNING j.id
                    """).decode(Int64.self)
                let renewed = Set(owned)
                for execution in running {
                    if renewed.contains(execution.job.id) {
                        execution.renewed(until: started + configuration.lease * 0.9)
                    } else {
                        // Taken over, or finished meanwhile (then stopping it changes nothing).
                        execution.stop(.leaseLost)
                    }
                }
            } catch {
                logger.warning("could not extend job leases", metadata: ["error": "\(error)", "job.count": "\(ids.count)"])
            }
        }
    }

    /// Forwards notifications of new work to the producers of their queues.
    private func listen() async {
        do {
            let listener = try PostgresListener(configuration: listenerConfiguration, logger: logger)
            defer { listener.shutdown() }
            for await event in try listener.subscribe(to: jobsChannel) {
                switch event {
                case .notification(let notification):
                    producers[notification.payload]?.wake.signal()
                case .listening:
                    // Anything may have arrived while nobody listened.
                    for producer in producers.values { producer.wake.signal() }
                }
                if Task.isCancelled { break }
            }
        } catch {
            logger.error("cannot listen for new jobs; polling only", metadata: ["error": "\(error)"])
        }
    }

    func setLeader(_ isLeader: Bool) {
        if leader.exchange(isLeader, ordering: .relaxed) != isLeader {
            logger.info(isLeader ? "became the maintenance leader" : "no longer the maintenance leader")
        }
    }

    func recordDepth(_ depths: [String: Int]) {
        for (queue, producer) in producers { producer.metrics.depth.record(depths[queue] ?? 0) }
    }
}
