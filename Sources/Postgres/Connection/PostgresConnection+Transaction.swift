import Logging
import Synchronization

extension PostgresConnection {
    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws (also when the task
    /// was cancelled). Inside an open transaction it uses a savepoint instead, so transactions nest.
    /// BEGIN is sent with the body's first statement, in the same round trip (a body that runs none opens
    /// no transaction at all).
    @discardableResult
    public func transaction<R: Sendable>(
        isolation: PostgresIsolationLevel? = nil,
        readOnly: Bool = false,
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async throws -> R {
        try await withCancellationScope { connection in
            try await connection.inTransaction(isolation: isolation, readOnly: readOnly, body)
        }
    }

    private func inTransaction<R: Sendable>(
        isolation: PostgresIsolationLevel?,
        readOnly: Bool,
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async throws -> R {
        if transactionStatus != .idle {
            let name = "pdx_savepoint_\(savepointCounter.next())"
            try uncancellable("SAVEPOINT \(name)")
            do {
                let value = try await body(self)
                try uncancellable("RELEASE SAVEPOINT \(name)")
                return value
            } catch {
                if !isClosed {
                    do {
                        try uncancellable("ROLLBACK TO SAVEPOINT \(name); RELEASE SAVEPOINT \(name)")
                    } catch let rollbackError {
                        logger.warning("rollback to savepoint failed", metadata: ["error": "\(rollbackError)"])
                    }
                }
                throw error
            }
        }
        var begin = "BEGIN"
        if let isolation { begin += " ISOLATION LEVEL \(isolation.rawValue)" }
        if readOnly { begin += " READ ONLY" }
        // Sent with the body's first statement, in its round trip (one round trip fewer per transaction).
        deferBegin(begin)
        let value: R
        do {
            value = try await body(self)
        } catch {
            if !takeUnsentBegin() && !isClosed && transactionStatus != .idle {
                do { try uncancellable("ROLLBACK") } catch { logger.warning("rollback failed", metadata: ["error": "\(error)"]) }
            }
            throw error
        }
        // The body ran no statement: no transaction was opened.
        if takeUnsentBegin() { return value }
        // A statement failed inside and the body caught its error: PostgreSQL would answer COMMIT with
        // ROLLBACK, quietly. Say so instead of returning as if the work were saved.
        let rolledBack = PostgresError(
            kind: .server, code: "25P02",
            message: "the transaction was rolled back: a statement in it failed and its error was caught")
        if transactionStatus == .failedTransaction {
            try uncancellable("ROLLBACK")
            throw rolledBack
        }
        if try uncancellable("COMMIT") == "ROLLBACK" { throw rolledBack }
        return value
    }

    /// Like `transaction`, but runs the whole transaction again when it fails with a serialization
    /// failure (40001) or a deadlock (40P01), up to `maxAttempts` times, waiting a random, growing delay
    /// between attempts. The body must be safe to repeat.
    @discardableResult
    public func retryingTransaction<R: Sendable>(
        isolation: PostgresIsolationLevel = .serializable,
        readOnly: Bool = false,
        maxAttempts: Int = 5,
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async throws -> R {
        guard transactionStatus == .idle else {
            throw PostgresError(kind: .invalidUsage, message: """
                retryingTransaction must start outside any transaction: inside one, a retry could only repeat \
                a savepoint of a transaction that is already doomed
                """)
        }
        var attempt = 1
        while true {
            do {
                return try await transaction(isolation: isolation, readOnly: readOnly, body)
            } catch let error as PostgresError where error.isRetryableTransactionFailure && attempt < maxAttempts {
                logger.debug("retrying transaction", metadata: ["db.sqlstate": "\(error.code?.rawValue ?? "")", "db.attempt": "\(attempt)"])
                try await Task.sleep(for: retryDelay(attempt: attempt))
                attempt += 1
            }
        }
    }
}

/// Full jitter: a random delay up to 5 ms * 2^attempt, capped at 250 ms.
func retryDelay(attempt: Int) -> Duration {
    let ceiling = min(250.0, 5.0 * Double(1 << min(attempt, 10)))
    return .microseconds(Int64(Double.random(in: 0...ceiling) * 1000))
}

/// Savepoint names only need to be unique within one connection's nesting; a process-wide counter is simplest.
private let savepointCounter = Counter()

final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int { value.add(1, ordering: .relaxed).newValue }
}
