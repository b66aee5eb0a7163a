#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Postgres
import Synchronization

/// Wakes the workers of queues after the transactions that enqueued their jobs have committed, rather than
/// from inside them.
///
/// A `NOTIFY` inside a transaction takes a lock for the whole database at commit and keeps it until the
/// commit is on disk, so concurrent transactions that notify commit one after another, never together: on a
/// disk that syncs in about a millisecond, about a thousand a second, whatever else they do. Writers on a
/// hot path (`POST /v1/demands`) enqueue with `wake: false` and hand their queues here once committed; one
/// small transaction with an asynchronous commit sends them, at most one at a time per process, carrying
/// everything asked for while the previous one was on its way. A wake-up lost (a crash right after the
/// commit, a database that refuses) costs the workers' poll interval, never a job.
public final class JobWakeUps: Sendable {
    private let pool: PostgresPool
    private let state = Mutex((pending: Set<String>(), sending: false))

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Sends a wake-up to the workers of each queue soon, without waiting.
    public func wake(_ queues: some Sequence<String>) {
        let start = state.withLock { state in
            state.pending.formUnion(queues)
            guard !state.pending.isEmpty, !state.sending else { return false }
            state.sending = true
            return true
        }
        if start { Task { await send() } }
    }

    /// Whether nothing is waiting to be sent or being sent.
    public var isIdle: Bool { state.withLock { $0.pending.isEmpty && !$0.sending } }

    private func send() async {
        while true {
            let queues = state.withLock { state -> [String] in
                guard !state.pending.isEmpty else {
                    state.sending = false
                    return []
                }
                defer { state.pending = [] }
                return state.pending.sorted()
            }
            guard !queues.isEmpty else { return }
            try? await pool.withTransaction { connection in
                // Nothing here needs to wait for the disk: the jobs it announces are already committed.
                try await connection.execute("SET LOCAL synchronous_commit = off")
                try await connection.execute("SELECT pg_notify(\(jobsChannel), queue) FROM unnest(\(queues)) AS queue")
            }
        }
    }
}
