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
    /// timeout) and hands back the rest.
    func run(worker: JobWorker) async {
        await withDiscardingTaskGroup { group in
            var failures = 0
            while !worker.isStopping {
                let free = concurrency - running.load(ordering: .acquiring)
                var claimedFull = false
                if free > 0 {
                    do {
                        let limit = min(free, batch)
                        let jobs = try await worker.claim(queue: queue, limit: limit)
                        failures = 0
                        if !jobs.isEmpty {
                            running.add(jobs.count, ordering: .releasing)
                            metrics.claimed.increment(by: Int64(jobs.count))
                            for job in jobs {
                                group.addTask { await worker.execute(job, for: self) }
                            }
                        }
                        claimedFull = jobs.count == limit
                    } catch {
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
            // Shutting down: claim nothing more; give running jobs time, then hand them back.
            let deadline = ContinuousClock.now + worker.configuration.shutdownTimeout
            let timer = Task { [wake] in
                try? await Task.sleep(until: deadline)
                wake.signal()
            }
            while running.load(ordering: .acquiring) > 0 && ContinuousClock.now < deadline {
                await wake.wait()
            }
            timer.cancel()
            if running.load(ordering: .acquiring) > 0 {
                worker.logger.notice("shutdown timeout reached; handing running jobs back", metadata: [
                    "job.queue": "\(queue)", "job.count": "\(running.load(ordering: .relaxed))"])
                group.cancelAll()
            }
        }
    }

    /// A job of this queue finished (however it ended).
    func jobFinished() {
        let now = running.subtract(1, ordering: .acquiringAndReleasing).newValue
        // Wake the producer when enough slots are free to be worth a claim, and for the last job at
        // shutdown.
        if concurrency - now == refill || now == 0 { wake.signal() }
    }
}
