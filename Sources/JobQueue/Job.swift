#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Postgres
import Synchronization

/// The arguments of one kind of job. The kind names the handler that runs it: keep it stable.
///
/// ```swift
/// struct MatchDemand: JobArguments {
///     static let kind = "match_demand"
///     var demandID: UUID
/// }
/// ```
public protocol JobArguments: Codable, Sendable {
    static var kind: String { get }
}

/// A claimed job as its handler sees it.
public struct Job<Arguments: JobArguments>: Sendable {
    public let id: Int64
    public let queue: String
    /// This attempt's number, from 1.
    public let attempt: Int
    public let maxAttempts: Int
    public let args: Arguments
    public let createdAt: Date
    /// Set by `complete(on:)`: the worker then writes nothing for this attempt.
    let completedInTransaction: CompletionMark

    /// Marks the job completed inside the caller's transaction, so that the job and the handler's writes
    /// commit together or not at all: the exactly-once-effect pattern.
    ///
    /// ```swift
    /// try await pool.withTransaction { connection in
    ///     try await connection.execute("INSERT INTO matches ...")
    ///     try await job.complete(on: connection)
    /// }
    /// return .completed
    /// ```
    /// If this attempt no longer owns the job (its lease expired and another worker took it over), this
    /// throws `JobLeaseLost`, which rolls the transaction back: the other attempt's effect is the one
    /// that counts. When the handler then returns `.completed`, the worker writes nothing more for the
    /// attempt: should the transaction be lost after all (a server crash with asynchronous commits), the
    /// job stays running, is rescued and runs again, instead of being marked completed without its
    /// effect.
    public func complete(on connection: isolated PostgresConnection) async throws {
        let updated = try await connection.execute("""
            UPDATE pdx_jobs AS j SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
            WHERE id = \(id) AND attempt = \(Int16(clamping: attempt)) AND \(unsafeRaw: isRunning)
            """)
        guard updated == 1 else { throw JobLeaseLost(id: id, attempt: attempt) }
        completedInTransaction.set()
    }
}

extension Job {
    /// `complete(on:)` for many jobs in one statement (a handler that does the work of several jobs in one
    /// transaction). If any of them is no longer this worker's to complete, this throws `JobLeaseLost`
    /// naming one, and marks none: roll back and do them one at a time.
    public static func complete(_ jobs: [Job], on connection: isolated PostgresConnection) async throws {
        guard !jobs.isEmpty else { return }
        let completed = Set(try await connection.query("""
            UPDATE pdx_jobs AS j SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
            FROM unnest(\(jobs.map(\.id)), \(jobs.map { Int16(clamping: $0.attempt) })) AS u(id, attempt)
            WHERE j.id = u.id AND j.attempt = u.attempt AND \(unsafeRaw: isRunning)
            RETURNING j.id
            """).decode(Int64.self))
        if let lost = jobs.first(where: { !completed.contains($0.id) }) { throw JobLeaseLost(id: lost.id, attempt: lost.attempt) }
        for job in jobs { job.completedInTransaction.set() }
    }
}

/// Whether a handler completed its job inside its own transaction.
final class CompletionMark: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// How a handler ends its job when it does not throw.
public enum JobOutcome: Sendable, Equatable {
    /// Done.
    case completed
    /// Not now: run again after the delay, without counting this attempt.
    case snooze(Duration)
    /// Stop for good, without error; the reason is recorded.
    case cancel(reason: String)
}

/// Thrown by a handler: the job is discarded at once instead of retried (the input can never work).
public struct JobDiscard: Error, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// This attempt no longer owns its job: the lease expired and the job was rescued.
public struct JobLeaseLost: Error, CustomStringConvertible {
    public var id: Int64
    public var attempt: Int
    public var description: String {
        "job \(id) attempt \(attempt) no longer owns the job: its lease expired and it was handed to another attempt"
    }
}
