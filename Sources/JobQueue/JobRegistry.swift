#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A claimed row, before its arguments are decoded.
struct ClaimedJob: Sendable {
    var id: Int64
    var queue: String
    var kind: String
    var args: String
    var attempt: Int
    var maxAttempts: Int
    /// When it became available (for the enqueue-to-start time).
    var availableAt: Date
    var createdAt: Date
}

/// Handlers by job kind, each with its time limit.
public struct JobRegistry: Sendable {
    struct Entry: Sendable {
        var timeout: Duration
        var run: @Sendable (ClaimedJob) async throws -> AttemptResult
    }

    private(set) var entries: [String: Entry] = [:]

    public init() {}

    /// Registers the handler for `A.kind`. A handler that runs longer than `timeout` is cancelled and
    /// its attempt counts as failed.
    public mutating func register<A: JobArguments>(
        _ type: A.Type = A.self,
        timeout: Duration = .seconds(60),
        _ handler: @escaping @Sendable (Job<A>) async throws -> JobOutcome
    ) {
        precondition(!A.kind.isEmpty, "a job kind must not be empty")
        let decoder = JSONDecoder()
        entries[A.kind] = Entry(timeout: timeout) { claimed in
            let args: A
            do {
                args = try decoder.decode(A.self, from: Data(claimed.args.utf8))
            } catch {
                throw JobDiscard("the arguments of this \(A.kind) job do not decode as \(A.self): \(error)")
            }
            let mark = CompletionMark()
            let outcome = try await handler(Job(
                id: claimed.id, queue: claimed.queue, attempt: claimed.attempt, maxAttempts: claimed.maxAttempts,
                args: args, createdAt: claimed.createdAt, completedInTransaction: mark))
            return outcome == .completed && mark.isSet ? .completedInTransaction : .outcome(outcome)
        }
    }

    /// The kinds this registry handles, sorted.
    public var kinds: [String] { entries.keys.sorted() }

    func entry(for kind: String) -> Entry? { entries[kind] }
}
