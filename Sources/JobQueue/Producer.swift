#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CoreMetrics
import Logging
import Postgres
import Synchronization

/// Claims the jobs of one queue for this process: never more than it has free slots, in batches, when
/// notified of new work, when slots free up, and at every poll interval.
final class Producer: Sendable {
    let queue: String
    let concurrency: Int
    let metrics: QueueMetrics
    let wake = WakeSignal()
    private let running = Atomic<Int>(0)
    /// Claim again once this many slots are free (half a batch), so a busy queue is not claimed one job
    /// at a time as each finishes.
    private let refill: Int
    private let batch: Int

    init(queue: String, concurrency: Int, batch: Int, metrics: QueueMetrics) {
        self.queue = queue
        self.concurrency = concurrency
        self.batch = min(batch, concurrency)
        self.refill = max(1, min(batch, concurrency) / 2)
        self.metrics = metrics
    }

    var runningCount: Int { running.load(ordering: .relaxed) }

    /// Claims and runs jobs until the worker stops, then waits for running jobs (up to the shutdown
    /// timeout) and hands back the rest. `claimers` loops claim concurrently, each reserving its slots
    /// before it claims, so together they never exceed the queue's concurrency.
    func run(worker: JobWorker, claimers: Int) async {
        await withDiscardingTaskGroup { loops in
            for _ in 0..<max(1, claimers) {
                loops.addTask { await self.claimLoop(worker: worker) }
            }
        }
        await drain(worker: worker)
    }

    /// Shutting down: claim nothing more; give running jobs time, then stop them and hand them back.
    private func drain(worker: JobWorker) async {
        let deadline = ContinuousClock.now + worker.configuration.shutdownTimeout
        while running.load(ordering: .acquiring) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let mine = worker.executions.all.filter { $0.job.queue == queue }
        guard !mine.isEmpty else { return }
        worker.logger.notice("shutdown timeout reached; handing running jobs back", metadata: [
            "job.queue": "\(queue)", "job.count": "\(mine.count)"])
        for execution in mine { execution.stop(.handedBack) }
        // Handlers that honour cancellation end within moments; the others are handed back regardless.
        let grace = ContinuousClock.now + .seconds(1)
        while running.load(ordering: .acquiring) > 0 && ContinuousClock.now < grace {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for execution in worker.executions.all where execution.job.queue == queue {
            worker.end(execution, .handedBack, for: self)
        }
    }

    /// One claiming loop. It keeps a pooled connection while it runs, so that its claims need no checkout
    /// and no thread hop (the loop itself runs on the connection's thread); a connection that breaks is
    /// given back and another taken.
    private func claimLoop(worker: JobWorker) async {
        var failures = 0
        while !worker.isStopping {
            do {
                try await worker.pool.withConnection { connection in
                    try await self.claimWhileConnected(worker: worker, connection: connection)
                }
            } catch {
                failures += 1
                worker.logger.warning("could not claim jobs; retrying", metadata: [
                    "job.queue": "\(queue)", "error": "\(error)", "attempt": "\(failures)"])
                try? await Task.sleep(for: .milliseconds(min(50 << min(failures, 6), 2_000)))
            }
        }
        // Pass the stop on to the other loops waiting on the same signal.
        wake.signal()
    }

    /// Claims on one connection until the worker stops; throws when the connection can no longer be used.
    private func claimWhileConnected(worker: JobWorker, connection: isolated PostgresConnection) async throws {
        var failures = 0
        while !worker.isStopping {
            if worker.completer.backlog >= worker.completionBacklogLimit {
                await wake.wait()  // the completer wakes producers after each write
                continue
            }
            let reserved = reserve()
            var claimedFull = false
            if reserved > 0 {
                let carried = worker.completer.take(limit: worker.configuration.completionBatch)
                do {
                    let jobs = try await worker.claim(queue: queue, limit: reserved, recording: carried, on: connection)
                    worker.completer.recorded(carried)
                    failures = 0
                    release(reserved - jobs.count)
                    if !jobs.isEmpty {
                        metrics.claimed.increment(by: Int64(jobs.count))
                        for job in jobs { worker.start(job, for: self) }
                    }
                    claimedFull = jobs.count == reserved
                } catch {
                    worker.completer.giveBack(carried)
                    release(reserved)
                    if !connection.isReusable { throw error }
                    failures += 1
                    worker.logger.warning("could not claim jobs; retrying", metadata: [
                        "job.queue": "\(queue)", "error": "\(error)", "attempt": "\(failures)"])
                    try? await Task.sleep(for: .milliseconds(min(50 << min(failures, 6), 2_000)))
                    continue
                }
            }
            // A full claim means more may be waiting: claim again as soon as enough slots are free.
            if claimedFull && concurrency - running.load(ordering: .acquiring) >= refill { continue }
            await wake.wait()
        }
    }

    /// Takes up to a batch of free slots for a claim.
    private func reserve() -> Int {
        var current = running.load(ordering: .acquiring)
        while true {
            let take = min(concurrency - current, batch)
            guard take > 0 else { return 0 }
            let (exchanged, original) = running.compareExchange(
                expected: current, desired: current + take, ordering: .acquiringAndReleasing)
            if exchanged { return take }
            current = original
        }
    }

    private func release(_ slots: Int) {
        guard slots > 0 else { return }
        running.subtract(slots, ordering: .releasing)
    }

    /// A job of this queue finished (however it ended).
    func jobFinished() {
        let now = running.subtract(1, ordering: .acquiringAndReleasing).newValue
        // Wake the producer when enough slots are free to be worth a claim, and for the last job at
        // shutdown.
        if concurrency - now == refill || now == 0 { wake.signal() }
    }
}
