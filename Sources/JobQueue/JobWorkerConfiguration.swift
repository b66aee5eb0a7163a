#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import CoreMetrics

extension JobWorker {
    public struct Configuration: Sendable {
        /// Queues to work and how many jobs of each may run at once.
        public var queues: [String: Int]
        /// Most jobs claimed in one round trip.
        public var claimBatch: Int
        /// Claims in flight at once per queue (each within the queue's free slots).
        public var claimers: Int
        /// How often producers look for work without being notified (the fallback for missed notifications).
        public var pollInterval: Duration
        /// How long a claimed job belongs to this worker without news; the worker extends it every third of
        /// it while the job runs. A crashed worker's jobs run again once their lease has expired.
        public var lease: Duration
        /// At shutdown, how long running jobs may take to finish before they are cancelled and handed back
        /// (the last writes then get up to `JobWorker.lastWritesTimeout`).
        public var shutdownTimeout: Duration
        /// Retry delays grow as `retryBase * 2^(attempt-1)`, with jitter, up to `retryCap`.
        public var retryBase: Duration
        public var retryCap: Duration
        /// Most completions written in one round trip.
        public var completionBatch: Int
        /// Completion writes in flight at once.
        public var completionWriters: Int
        /// What the leader does, and how often.
        public var maintenance: Maintenance
        /// Names this process in `attempted_by`; unique per process.
        public var workerID: String
        /// Listen for notifications of new work (otherwise, poll only).
        public var listens: Bool
        /// Commit claims, completions and lease renewals without waiting for the disk
        /// (`synchronous_commit` off). Off by default. When on, a server crash may lose the last
        /// milliseconds of them and the jobs concerned run again, which the queue's at-least-once contract
        /// allows; enqueues and handlers' own transactions stay as durable as the server makes them.
        public var asyncBookkeeping: Bool
        /// Where metrics go (the global `MetricsSystem` by default).
        public var metricsFactory: (any MetricsFactory)?

        public struct Maintenance: Sendable {
            /// Work as the leader when elected (false: never stand for election).
            public var enabled: Bool
            /// How often scheduled and retryable jobs that are due become available.
            public var schedulerInterval: Duration
            /// How often jobs whose lease expired are rescued.
            public var rescueInterval: Duration
            /// How often finalized jobs past retention are deleted.
            public var pruneInterval: Duration
            public var completedRetention: Duration
            /// Discarded and cancelled jobs are kept longer, for inspection and retries.
            public var failedRetention: Duration
            /// How often a process that is not the leader tries to become it.
            public var electionInterval: Duration
            /// How often the leader checks for dead rows (nil: leave the table to autovacuum), and how many
            /// make it vacuum.
            public var vacuumInterval: Duration?
            public var vacuumThreshold: Int

            public init(
                enabled: Bool = true,
                schedulerInterval: Duration = .seconds(1),
                rescueInterval: Duration = .seconds(10),
                pruneInterval: Duration = .seconds(60),
                completedRetention: Duration = .seconds(24 * 3600),
                failedRetention: Duration = .seconds(7 * 24 * 3600),
                electionInterval: Duration = .seconds(5),
                vacuumInterval: Duration? = .seconds(5),
                vacuumThreshold: Int = 20_000
            ) {
                self.enabled = enabled
                self.schedulerInterval = schedulerInterval
                self.rescueInterval = rescueInterval
                self.pruneInterval = pruneInterval
                self.completedRetention = completedRetention
                self.failedRetention = failedRetention
                self.electionInterval = electionInterval
                self.vacuumInterval = vacuumInterval
                self.vacuumThreshold = vacuumThreshold
            }
        }

        public init(
            queues: [String: Int] = [NewJob.defaultQueue: 100],
            claimBatch: Int = 100,
            claimers: Int = 2,
            pollInterval: Duration = .seconds(1),
            lease: Duration = .seconds(60),
            shutdownTimeout: Duration = .seconds(10),
            retryBase: Duration = .seconds(1),
            retryCap: Duration = .seconds(6 * 3600),
            completionBatch: Int = 1000,
            completionWriters: Int = 2,
            maintenance: Maintenance = Maintenance(),
            workerID: String = JobWorker.defaultWorkerID(),
            listens: Bool = true,
            asyncBookkeeping: Bool = false,
            metricsFactory: (any MetricsFactory)? = nil
        ) {
            self.queues = queues
            self.claimBatch = claimBatch
            self.claimers = claimers
            self.pollInterval = pollInterval
            self.lease = lease
            self.shutdownTimeout = shutdownTimeout
            self.retryBase = retryBase
            self.retryCap = retryCap
            self.completionBatch = completionBatch
            self.completionWriters = completionWriters
            self.maintenance = maintenance
            self.workerID = workerID
            self.listens = listens
            self.asyncBookkeeping = asyncBookkeeping
            self.metricsFactory = metricsFactory
        }

        /// Refuses settings that cannot work, naming the setting.
        public func validate() throws(JobInputError) {
            guard !queues.isEmpty else { throw JobInputError(field: "queues", rule: "must name at least one queue") }
            for (queue, concurrency) in queues {
                guard !queue.isEmpty, queue.utf8.count <= 128 else { throw JobInputError(field: "queue", rule: "must have 1 to 128 bytes") }
                guard (1...10_000).contains(concurrency) else {
                    throw JobInputError(field: "concurrency", rule: "must be from 1 to 10000, got \(concurrency) for queue \(queue)")
                }
            }
            guard (1...10_000).contains(claimBatch) else { throw JobInputError(field: "claimBatch", rule: "must be from 1 to 10000") }
            guard (1...16).contains(claimers) else { throw JobInputError(field: "claimers", rule: "must be from 1 to 16") }
            guard (1...16).contains(completionWriters) else { throw JobInputError(field: "completionWriters", rule: "must be from 1 to 16") }
            guard (1...100_000).contains(completionBatch) else { throw JobInputError(field: "completionBatch", rule: "must be from 1 to 100000") }
            guard lease >= .milliseconds(300) else { throw JobInputError(field: "lease", rule: "must be at least 300 ms") }
            guard pollInterval > .zero else { throw JobInputError(field: "pollInterval", rule: "must be positive") }
            guard retryBase > .zero, retryCap >= retryBase else {
                throw JobInputError(field: "retryBase", rule: "must be positive and at most retryCap")
            }
        }

        /// The delay before retry `attempt + 1`, with jitter of ±25%, never above `retryCap`.
        func retryDelay(afterAttempt attempt: Int) -> Duration {
            let base = retryBase.seconds * Double(1 << max(0, min(attempt - 1, 40)))
            return .seconds(min(base * Double.random(in: 0.75...1.25), retryCap.seconds))
        }
    }

    /// host:pid:random, readable in `attempted_by`.
    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host):\(ProcessInfo.processInfo.processIdentifier):\(String(UInt16.random(in: .min ... .max), radix: 16))"
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
