#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Postgres

/// Job kinds for benchmarks, chaos tests and checking a deployment (`pdx work --diagnostics`).
public enum DiagnosticJobs {
    /// Does nothing.
    public struct Noop: JobArguments {
        public static let kind = "pdx.noop"
        public init() {}
    }

    /// Sleeps (cancellably), then completes.
    public struct Sleep: JobArguments {
        public static let kind = "pdx.sleep"
        public var milliseconds: Int
        public init(milliseconds: Int) { self.milliseconds = milliseconds }
    }

    /// Fails with `message` until attempt `succeedOnAttempt` (never, when nil).
    public struct Fail: JobArguments {
        public static let kind = "pdx.fail"
        public var message: String
        public var succeedOnAttempt: Int?
        public init(message: String, succeedOnAttempt: Int? = nil) {
            self.message = message
            self.succeedOnAttempt = succeedOnAttempt
        }
    }

    /// Records one row in `pdx_job_effects` and completes the job in the same transaction: however
    /// often the job runs (crashes, rescues), exactly one row survives per job.
    public struct Effect: JobArguments {
        public static let kind = "pdx.effect"
        /// Work inside the transaction, to widen the window a crash can hit.
        public var milliseconds: Int
        public init(milliseconds: Int = 0) { self.milliseconds = milliseconds }
    }

    /// Sleeps (cancellably), then records its run, start and end, in `pdx_job_effects` in a transaction
    /// of its own: every attempt that ran to its end leaves a row, so tests can check that no job ran
    /// twice, or twice at once.
    public struct Record: JobArguments {
        public static let kind = "pdx.record"
        public var milliseconds: Int
        public init(milliseconds: Int = 0) { self.milliseconds = milliseconds }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Registers the diagnostic kinds; `pdx.effect` writes through `pool`.
    public static func register(into registry: inout JobRegistry, pool: PostgresPool, workerID: String) {
        registry.register(Noop.self) { _ in .completed }
        registry.register(Sleep.self, timeout: .seconds(3600)) { job in
            try await Task.sleep(for: .milliseconds(job.args.milliseconds))
            return .completed
        }
        registry.register(Fail.self) { job in
            if let succeed = job.args.succeedOnAttempt, job.attempt >= succeed { return .completed }
            throw Failure(description: job.args.message)
        }
        registry.register(Record.self) { job in
            let started = Date()
            if job.args.milliseconds > 0 { try await Task.sleep(for: .milliseconds(job.args.milliseconds)) }
            try await pool.execute("""
                INSERT INTO pdx_job_effects (job_id, attempt, worker, started_at)
                VALUES (\(job.id), \(Int16(clamping: job.attempt)), \(workerID), \(started))
                """)
            return .completed
        }
        registry.register(Effect.self) { job in
            let started = Date()
            try await pool.withTransaction { connection in
                try await connection.execute("""
                    INSERT INTO pdx_job_effects (job_id, attempt, worker, started_at)
                    VALUES (\(job.id), \(Int16(clamping: job.attempt)), \(workerID), \(started))
                    """)
                if job.args.milliseconds > 0 { try await Task.sleep(for: .milliseconds(job.args.milliseconds)) }
                try await job.complete(on: connection)
            }
            return .completed
        }
    }
}
