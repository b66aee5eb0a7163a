#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// How one attempt of a job ended.
enum AttemptResult: Sendable {
    case outcome(JobOutcome)
    case failed(any Error)
    case timedOut(Duration)
    /// The worker is shutting down and stopped waiting for it: give the job back.
    case handedBack
}

/// One running attempt: its handler task, its deadline, and the single place its result is delivered,
/// whichever comes first: the handler, the timeout, or shutdown.
final class Execution: Sendable {
    let job: ClaimedJob
    let deadline: ContinuousClock.Instant
    let timeout: Duration

    private struct State {
        var continuation: CheckedContinuation<AttemptResult, Never>?
        var early: AttemptResult?
        var finished = false
        var task: Task<Void, Never>?
    }

    private let state = Mutex(State())

    init(job: ClaimedJob, timeout: Duration) {
        self.job = job
        self.timeout = timeout
        self.deadline = .now + timeout
    }

    /// Runs `handler` in a task of its own and returns its result, or the first of timeout and shutdown
    /// (a handler that ignores cancellation is left behind rather than waited for).
    func run(_ handler: @escaping @Sendable () async throws -> JobOutcome) async -> AttemptResult {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let early = state.withLock { state -> AttemptResult? in
                    if let early = state.early {
                        state.finished = true
                        return early
                    }
                    state.continuation = continuation
                    return nil
                }
                if let early {
                    continuation.resume(returning: early)
                    return
                }
                let task = Task {
                    let result: AttemptResult
                    do {
                        result = .outcome(try await handler())
                    } catch {
                        result = .failed(error)
                    }
                    self.finish(with: result)
                }
                let cancelNow = state.withLock { state -> Bool in
                    state.task = task
                    return state.finished
                }
                if cancelNow { task.cancel() }
            }
        } onCancel: {
            finish(with: .handedBack)
        }
    }

    /// Called by the watchdog once the deadline has passed.
    func expire() { finish(with: .timedOut(timeout)) }

    private func finish(with result: AttemptResult) {
        let (continuation, task) = state.withLock { state -> (CheckedContinuation<AttemptResult, Never>?, Task<Void, Never>?) in
            guard !state.finished, state.early == nil else { return (nil, nil) }
            guard let continuation = state.continuation else {
                state.early = result
                return (nil, nil)
            }
            state.finished = true
            state.continuation = nil
            return (continuation, state.task)
        }
        guard let continuation else { return }
        // A handler that did not finish by itself is told to stop.
        if case .outcome = result {} else if case .failed = result {} else { task?.cancel() }
        continuation.resume(returning: result)
    }
}

/// The attempts running in this process: for heartbeats (extend their leases) and the watchdog (end
/// those past their deadline).
final class Executions: Sendable {
    private let running = Mutex<[Int64: Execution]>([:])

    func add(_ execution: Execution) { running.withLock { $0[execution.job.id] = execution } }
    func remove(_ execution: Execution) { _ = running.withLock { $0.removeValue(forKey: execution.job.id) } }

    var all: [Execution] { running.withLock { Array($0.values) } }

    /// Ends every attempt whose deadline has passed.
    func expireOverdue(at now: ContinuousClock.Instant = .now) {
        for execution in all where execution.deadline <= now { execution.expire() }
    }
}
