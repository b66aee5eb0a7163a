#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Postgres
import Synchronization

/// "The row is running", written so that the planner cannot use the partial index of running jobs.
/// Running jobs come and go within milliseconds, so statistics often count none; the planner would then
/// scan every running row for every id of a batch instead of looking each id up by primary key.
let isRunning = "j.state::text = 'running'"

/// How to record the end of one attempt.
struct Completion: Sendable {
    enum State: String, Sendable {
        case completed, retryable, discarded, cancelled, scheduled, available
    }

    var id: Int64
    var attempt: Int
    var state: State
    /// For retryable, scheduled and available: when it becomes available again.
    var runAt: Date?
    /// Recorded in the job's error history.
    var error: String?
    /// Snoozes and hand-backs do not count as attempts.
    var refundsAttempt = false

    /// The attempt whose end this records.
    var ended: Completer.Attempt { Completer.Attempt(id: id, attempt: attempt) }
}

/// Writes the ends of attempts in batches: everything that finished while the previous write was in
/// flight goes in the next one. A write that fails is retried (the rows stay `running` meanwhile, and
/// the updates only apply to the attempt that wrote them, so a repeat is harmless).
///
/// Claims carry completions too: a producer about to claim takes what is pending and writes it in the
/// claim's own round trip and commit (`take`, then `recorded` or `giveBack`), which halves the commits
/// of a busy queue that claims one job at a time. A batch whose write failed (alone or in a claim) is left
/// to the writers and retried on its own, never mixed with new completions again, and split in halves when
/// the server refused it (rather than losing the connection), so that one completion that cannot be
/// written holds up neither the claims nor the completions written beside it.
///
/// Until an end is written its job keeps its lease: the worker's heartbeat renews the jobs of `unrecorded`
/// ends, those waiting, those in a writer's batch and those carried by a claim in flight, so that a slow or
/// failing write never lets the rescuer run again a job this worker finished. This bookkeeping rides on the
/// locks the writers already take.
final class Completer: Sendable {
    /// How long a writer leaves new completions to the claims before writing them itself.
    static let carryWindow = Duration.milliseconds(2)

    /// A batch whose write failed, with its own backoff: one that keeps failing delays no other.
    private struct Retry {
        var batch: [Completion]
        var failures: Int
        var due: ContinuousClock.Instant
    }

    /// What a writer does next.
    private enum Next {
        case write([Completion], failures: Int)
        /// Nothing to write: wait for a signal.
        case idle
        /// Only retries not yet due: look again shortly.
        case later
        case stop
    }

    /// One attempt of one job.
    struct Attempt: Hashable, Sendable {
        var id: Int64
        var attempt: Int
    }

    private struct State {
        /// Not tried yet: for the claims and the writers.
        var pending: [Completion] = []
        /// Batches whose write failed: for the writers only, each on its own once due.
        var retrying: [Retry] = []
        /// Each writer's batch in flight (cleared when it takes its next batch or gives this one back).
        var writing: [Int: [Completion]] = [:]
        /// Taken by claims in flight, until they are committed or given back.
        var carried: Set<Attempt> = []
        var stopping = false
        /// Shutdown gave up waiting for the writes: the writers return.
        var abandoned = false

        var waiting: Int { retrying.reduce(pending.count) { $0 + $1.batch.count } }
    }

    private let state = Mutex(State())
    private let signal = WakeSignal()
    private let recorded = Atomic<Int>(0)
    private let pool: PostgresPool
    private let batchLimit: Int
    private let logger: Logger
    /// Called after each write, so producers held back by a long backlog can claim again.
    private let written: @Sendable () -> Void

    init(pool: PostgresPool, batchLimit: Int, logger: Logger, written: @escaping @Sendable () -> Void) {
        self.pool = pool
        self.batchLimit = batchLimit
        self.logger = logger
        self.written = written
    }

    func add(_ completion: Completion) {
        let wasEmpty = state.withLock { state in
            state.pending.append(completion)
            return state.pending.count == 1
        }
        if wasEmpty { signal.signal() }
    }

    /// Completions waiting to be written.
    var backlog: Int { state.withLock { $0.waiting } }

    /// The attempts whose ends are waiting or being written, whose jobs' leases must still be renewed.
    var unrecorded: [Attempt] {
        state.withLock { state in
            (state.retrying.flatMap(\.batch) + state.pending + state.writing.values.joined()).map(\.ended) + state.carried
        }
    }

    /// Completions written so far.
    var recordedCount: Int { recorded.load(ordering: .relaxed) }

    /// Writes with `writers` concurrent loops until `finish()` has been called and nothing is pending.
    func run(writers: Int) async {
        await withDiscardingTaskGroup { group in
            for writer in 0..<max(1, writers) { group.addTask { await self.writeLoop(writer) } }
        }
    }

    private func writeLoop(_ writer: Int) async {
        var retryFirst = true
        while true {
            let preferRetry = retryFirst
            let next = state.withLock { state -> Next in
                state.writing[writer] = nil  // the previous batch is written, or back among the retries
                if state.abandoned { return .stop }
                // New completions and retries that are due take turns: neither waits for the other.
                let now = ContinuousClock.now
                let due = state.retrying.firstIndex { $0.due <= now }
                let batch: [Completion], failures: Int
                if let due, preferRetry || state.pending.isEmpty {
                    let retry = state.retrying.remove(at: due)
                    (batch, failures) = (retry.batch, retry.failures)
                } else if !state.pending.isEmpty {
                    let count = min(state.pending.count, batchLimit)
                    (batch, failures) = (Array(state.pending.prefix(count)), 0)
                    state.pending.removeFirst(count)
                } else if !state.retrying.isEmpty {
                    return .later
                } else {
                    return state.stopping ? .stop : .idle
                }
                state.writing[writer] = batch
                return .write(batch, failures: failures)
            }
            let batch: [Completion], failures: Int
            switch next {
            case .stop:
                signal.signal()  // let the other writers see the end too
                return
            case .idle:
                await signal.wait()
                // A claim about to start takes what is pending in its own round trip and commit: give it
                // the moment it needs, so that a busy queue commits once per claim rather than twice.
                if !state.withLock({ $0.stopping }) { try? await Task.sleep(for: Self.carryWindow) }
                continue
            case .later:
                await pause(.milliseconds(50))
                continue
            case .write(let taken, let failed):
                (batch, failures) = (taken, failed)
                retryFirst.toggle()
            }
            // More pending than this batch: let another writer take it meanwhile.
            if backlog > 0 { signal.signal() }
            do {
                try await write(batch)
                recorded.add(batch.count, ordering: .relaxed)
                written()
            } catch let error as PostgresError where error.kind == .poolClosed {
                // Nothing can be written any more: the jobs stay running and are rescued once their leases
                // expire, to run again.
                let lost = state.withLock { state in
                    defer { state.pending.removeAll(); state.retrying.removeAll(); state.writing.removeAll() }
                    return state.waiting + batch.count
                }
                logger.error("cannot record finished jobs: the connections are closed; they will run again after their leases expire",
                             metadata: ["job.count": "\(lost)"])
                return
            } catch {
                // Each batch backs off on its own, from 50 ms doubling to 5 s. Refused by the server (rather than
                // a lost connection), one completion may be the cause: the halves go on separately, at once.
                let delay = min(Duration.milliseconds(50) * (1 << min(failures, 7)), .seconds(5))
                let refused = (error as? PostgresError).map { $0.kind == .server || $0.kind == .encoding } ?? false
                logger.warning("could not record finished jobs; retrying", metadata: [
                    "error": "\(error)", "job.count": "\(batch.count)",
                    "retry_ms": "\(refused && batch.count > 1 ? 0 : delay.nanoseconds / 1_000_000)",
                ])
                let abandoned = state.withLock { state in
                    let now = ContinuousClock.now
                    if refused && batch.count > 1 {
                        let half = batch.count / 2
                        state.retrying += [Retry(batch: Array(batch[..<half]), failures: failures + 1, due: now),
                                           Retry(batch: Array(batch[half...]), failures: failures + 1, due: now)]
                    } else {
                        state.retrying.append(Retry(batch: batch, failures: failures + 1, due: now + delay))
                    }
                    state.writing[writer] = nil
                    return state.abandoned
                }
                if abandoned {
                    signal.signal()
                    return
                }
            }
        }
    }

    /// Sleeps a moment even in a cancelled task (shutdown still wants the writes, until it gives up), never
    /// spinning.
    private func pause(_ duration: Duration) async {
        try? await Task.sleep(for: duration)
        if Task.isCancelled && !state.withLock({ $0.abandoned }) { await sleepUncancelled(duration) }
    }

    /// Takes up to `limit` pending completions (none whose write failed) for a caller that writes them in its
    /// own transaction (see `statements(for:)`); it then calls `recorded(_:)` once they are committed, or
    /// `giveBack(_:)`.
    func take(limit: Int) -> [Completion] {
        state.withLock { state in
            let count = min(state.pending.count, limit)
            guard count > 0 else { return [] }
            defer { state.pending.removeFirst(count) }
            let taken = Array(state.pending.prefix(count))
            state.carried.formUnion(taken.map(\.ended))
            return taken
        }
    }

    /// An attempt was recorded by its handler's own transaction.
    func recordedElsewhere() {
        recorded.add(1, ordering: .relaxed)
    }

    /// Completions taken with `take` were committed.
    func recorded(_ batch: [Completion]) {
        guard !batch.isEmpty else { return }
        state.withLock { $0.carried.subtract(batch.map(\.ended)) }
        recorded.add(batch.count, ordering: .relaxed)
        written()
    }

    /// Completions taken with `take` were not written: they go to the writers, first.
    func giveBack(_ batch: [Completion]) {
        guard !batch.isEmpty else { return }
        state.withLock { state in
            state.carried.subtract(batch.map(\.ended))
            state.retrying.append(Retry(batch: batch, failures: 1, due: .now))
        }
        signal.signal()
    }

    /// Lets `run()` return once everything pending is written.
    func finish() {
        state.withLock { $0.stopping = true }
        signal.signal()
    }

    /// Makes `run()` return after the writes in flight, leaving the rest unwritten; returns how many ends
    /// are not written (their jobs run again once their leases expire).
    func abandon() -> Int {
        let unwritten = state.withLock { state in
            state.abandoned = true
            return state.waiting + state.writing.values.reduce(0) { $0 + $1.count }
        }
        signal.signal()
        return unwritten
    }

    private func write(_ batch: [Completion]) async throws {
        let queries = Completer.statements(for: batch)
        _ = try await pool.withConnection { connection in
            try await connection.pipeline(queries)
        }
    }

    /// The statements that record `batch`; repeating them is harmless.
    static func statements(for batch: [Completion]) -> [PostgresQuery] {
        guard !batch.isEmpty else { return [] }
        let plain = batch.filter { $0.state == .completed && $0.error == nil }
        let other = batch.filter { !($0.state == .completed && $0.error == nil) }
        var statements: [PostgresQuery] = []
        if !plain.isEmpty {
            statements.append("""
                UPDATE pdx_jobs AS j SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
                FROM unnest(\(plain.map(\.id)), \(plain.map { Int16(clamping: $0.attempt) })) AS u(id, attempt)
                WHERE j.id = u.id AND j.attempt = u.attempt AND \(unsafeRaw: isRunning)
                """)
        }
        if !other.isEmpty {
            statements.append("""
                UPDATE pdx_jobs AS j SET
                    state = u.state::pdx_job_state,
                    finalized_at = CASE WHEN u.state IN ('completed', 'discarded', 'cancelled') THEN now() END,
                    scheduled_at = coalesce(u.run_at, j.scheduled_at),
                    attempt = CASE WHEN u.refund THEN j.attempt - 1 ELSE j.attempt END,
                    errors = CASE WHEN u.error IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(jsonb_build_object(
                        'at', now(), 'attempt', j.attempt, 'error', u.error, 'worker', j.attempted_by)) END,
                    lease_expires_at = NULL
                FROM unnest(\(other.map(\.id)), \(other.map { Int16(clamping: $0.attempt) }), \(other.map(\.state.rawValue)),
                            \(other.map(\.runAt)), \(other.map(\.error)), \(other.map(\.refundsAttempt)))
                    AS u(id, attempt, state, run_at, error, refund)
                WHERE j.id = u.id AND j.attempt = u.attempt AND \(unsafeRaw: isRunning)
                """)
        }
        let notify = other.contains { $0.state == .available }
        if notify {
            statements.append("SELECT pg_notify(\(jobsChannel), queue) FROM (SELECT DISTINCT queue FROM pdx_jobs WHERE id = ANY(\(other.filter { $0.state == .available }.map(\.id)))) q")
        }
        return statements
    }
}

/// Sleeps for `duration` even in a cancelled task (Task.sleep would return at once).
private func sleepUncancelled(_ duration: Duration) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        Task.detached {
            try? await Task.sleep(for: duration)
            continuation.resume()
        }
    }
}
