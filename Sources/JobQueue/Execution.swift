#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// How one attempt of a job ended.
enum AttemptResult: Sendable {
    case outcome(JobOutcome)
    /// The handler completed the job in its own transaction (`Job.complete(on:)`): nothing to write.
    case completedInTransaction
    case failed(any Error)
    case timedOut(Duration)
    /// The lease could not be renewed in time, or another attempt owns the job now.
    case leaseLost
    /// The worker is shutting down and stopped waiting for it: give the job back.
    case handedBack
}

/// One running attempt: the task that runs its handler, its deadline, its lease as this process last
/// renewed it, and why it was told to stop.
///
/// The handler runs in one task of its own (no task per job besides it). At its deadline the watchdog
/// cancels that task and marks the attempt timed out; when its lease runs out unrenewed (the database
/// was unreachable) or another attempt took the job over, it is cancelled as lease-lost, so that it
/// stops before the job runs elsewhere; at shutdown the producer cancels it and marks it handed back.
/// Cancellation is cooperative: a handler that ignores it keeps its slot until it returns.
final class Execution: Sendable {
    let job: ClaimedJob
    let deadline: ContinuousClock.Instant
    let timeout: Duration

    enum Stop: Sendable { case timedOut, leaseLost, handedBack }

    private struct State {
        var task: Task<Void, Never>?
        var stop: Stop?
        var reported = false
        var leaseEnds: ContinuousClock.Instant
    }

    private let state: Mutex<State>

    /// - Parameter leaseEnds: when the claim's lease ends, by this process's clock (a little early).
    init(job: ClaimedJob, timeout: Duration, leaseEnds: ContinuousClock.Instant) {
        self.job = job
        self.timeout = timeout
        self.deadline = .now + timeout
        self.state = Mutex(State(leaseEnds: leaseEnds))
    }

    /// The lease was renewed until `end` (by this process's clock).
    func renewed(until end: ContinuousClock.Instant) {
        state.withLock { $0.leaseEnds = max($0.leaseEnds, end) }
    }

    var leaseEnds: ContinuousClock.Instant { state.withLock { $0.leaseEnds } }

    func attach(_ task: Task<Void, Never>) {
        let stopNow = state.withLock { state -> Bool in
            state.task = task
            return state.stop != nil
        }
        if stopNow { task.cancel() }
    }

    /// Tells the handler to stop (the first reason wins).
    func stop(_ reason: Stop) {
        let task = state.withLock { state -> Task<Void, Never>? in
            guard state.stop == nil else { return nil }
            state.stop = reason
            return state.task
        }
        task?.cancel()
    }

    /// The result to report for what the handler did, given why it may have been stopped; nil once
    /// reported (the handler's own end and a forced hand-back at shutdown race for it).
    func report(_ result: AttemptResult) -> AttemptResult? {
        state.withLock { state -> AttemptResult? in
            guard !state.reported else { return nil }
            state.reported = true
            switch (state.stop, result) {
            case (.timedOut, .failed), (.timedOut, .outcome): return .timedOut(timeout)
            case (.leaseLost, .failed): return .leaseLost
            case (.handedBack, .failed): return .handedBack
            default: return result
            }
        }
    }
}

/// The attempts running in this process: for heartbeats (extend their leases), the watchdog (stop those
/// past their deadline) and shutdown.
final class Executions: Sendable {
    private let running = Mutex<[Int64: Execution]>([:])

    func add(_ execution: Execution) { running.withLock { $0[execution.job.id] = execution } }
    func remove(_ execution: Execution) { _ = running.withLock { $0.removeValue(forKey: execution.job.id) } }

    var all: [Execution] { running.withLock { Array($0.values) } }

    /// Stops every attempt whose deadline, or whose lease, has passed.
    func expireOverdue(at now: ContinuousClock.Instant = .now) {
        for execution in all {
            if execution.deadline <= now {
                execution.stop(.timedOut)
            } else if execution.leaseEnds <= now {
                execution.stop(.leaseLost)
            }
        }
    }
}
