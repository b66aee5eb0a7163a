import Foundation
@testable import JobQueue
import PDXTestSupport
import Postgres
import Testing

@Suite struct JobAdminTests {
    /// One job in each state, in two queues.
    private func seed(_ pool: PostgresPool) async throws {
        try await pool.execute("""
            INSERT INTO pdx_jobs (queue, kind, state, scheduled_at, finalized_at, attempt, max_attempts, lease_expires_at, errors) VALUES
                ('mail', 'k', 'available', now() - interval '90 seconds', NULL, 0, 5, NULL, '[]'),
                ('mail', 'k', 'available', now() - interval '10 seconds', NULL, 0, 5, NULL, '[]'),
                ('mail', 'k', 'scheduled', now() + interval '1 hour', NULL, 0, 5, NULL, '[]'),
                ('mail', 'k', 'running', now(), NULL, 1, 5, now() + interval '1 minute', '[]'),
                ('mail', 'k', 'retryable', now() + interval '1 minute', NULL, 1, 5, NULL,
                    '[{"at": "2026-11-27T00:00:00+00:00", "attempt": 1, "error": "boom", "worker": "w1"}]'),
                ('mail', 'k', 'completed', now(), now() - interval '5 seconds', 1, 5, NULL, '[]'),
                ('mail', 'k', 'completed', now(), now() - interval '2 hours', 1, 5, NULL, '[]'),
                ('mail', 'k', 'discarded', now(), now(), 5, 5, NULL,
                    '[{"at": "2026-11-27T00:00:00+00:00", "attempt": 5, "error": "gave up", "worker": "w2"}]'),
                ('match', 'k', 'discarded', now(), now(), 1, 1, NULL, '[]'),
                ('match', 'k', 'cancelled', now(), now(), 0, 5, NULL, '[]')
            """)
    }

    @Test func statsCountEachStateAndTheOldestWait() async throws {
        try await withQueueDatabase { _, pool in
            try await seed(pool)
            let stats = try await pool.withConnection { try await JobAdmin.stats(on: $0) }
            #expect(stats.map(\.queue) == ["mail", "match"])
            let mail = stats[0]
            #expect(mail.available == 2 && mail.scheduled == 1 && mail.running == 1 && mail.retryable == 1)
            #expect(mail.completedLastMinute == 1 && mail.discarded == 1 && mail.cancelled == 0)
            #expect(mail.oldestAvailableAgeSeconds >= 89 && mail.oldestAvailableAgeSeconds < 120)
            #expect(stats[1].discarded == 1 && stats[1].cancelled == 1 && stats[1].oldestAvailableAgeSeconds == 0)
        }
    }

    @Test func listAndShowReadJobsWithTheirErrors() async throws {
        try await withQueueDatabase { _, pool in
            try await seed(pool)
            try await pool.withConnection { connection in
                #expect(try await JobAdmin.list(state: "available", on: connection).count == 2)
                #expect(try await JobAdmin.list(state: "discarded", queue: "match", on: connection).count == 1)
                #expect(try await JobAdmin.list(state: "completed", limit: 1, on: connection).count == 1)
                let error = await #expect(throws: JobInputError.self) { try await JobAdmin.list(state: "done", on: connection) }
                #expect(error?.field == "state")
                let retryable = try #require(try await JobAdmin.list(state: "retryable", on: connection).first)
                let shown = try #require(try await JobAdmin.show(id: retryable.id, on: connection))
                #expect(shown.errors == [JobAdmin.AttemptError(at: "2026-11-27T00:00:00+00:00", attempt: 1, error: "boom", worker: "w1")])
                #expect(try await JobAdmin.show(id: 999_999, on: connection) == nil)
            }
        }
    }

    @Test func retryMakesAFinishedOrWaitingJobAvailableAgainKeepingItsHistory() async throws {
        try await withQueueDatabase { _, pool in
            try await seed(pool)
            try await pool.withConnection { connection in
                let discarded = try #require(try await JobAdmin.list(state: "discarded", queue: "mail", on: connection).first)
                #expect(try await JobAdmin.retry(id: discarded.id, on: connection))
                let retried = try #require(try await JobAdmin.show(id: discarded.id, on: connection))
                #expect(retried.state == "available" && retried.finalizedAt == nil)
                #expect(retried.maxAttempts == 6, "one more attempt than it has used")
                #expect(retried.errors.count == 1, "history kept")
                let running = try #require(try await JobAdmin.list(state: "running", on: connection).first)
                #expect(try await JobAdmin.retry(id: running.id, on: connection) == false)
                #expect(try await JobAdmin.retry(id: 999_999, on: connection) == false)
                #expect(try await JobAdmin.retryDiscarded(queue: "match", on: connection) == 1)
                #expect(try await JobAdmin.list(state: "discarded", on: connection).isEmpty)
            }
        }
    }

    @Test func cancelStopsUnfinishedJobsOnly() async throws {
        try await withQueueDatabase { _, pool in
            try await seed(pool)
            try await pool.withConnection { connection in
                let available = try #require(try await JobAdmin.list(state: "available", on: connection).first)
                #expect(try await JobAdmin.cancel(id: available.id, on: connection))
                let cancelled = try #require(try await JobAdmin.show(id: available.id, on: connection))
                #expect(cancelled.state == "cancelled" && cancelled.finalizedAt != nil)
                #expect(cancelled.errors.map(\.error) == ["cancelled by an administrator"])
                #expect(try await JobAdmin.cancel(id: available.id, on: connection) == false, "already finalized")
            }
        }
    }

    @Test func pruneDeletesOnlyFinalizedJobsPastTheirRetention() async throws {
        try await withQueueDatabase { _, pool in
            try await seed(pool)
            let deleted = try await pool.withConnection {
                try await JobAdmin.prune(completedOlderThan: .seconds(3600), failedOlderThan: .seconds(3600), on: $0)
            }
            #expect(deleted == 1)
            #expect(try await count(pool, where: "true") == 9)
            let all = try await pool.withConnection {
                try await JobAdmin.prune(completedOlderThan: .zero, failedOlderThan: .zero, on: $0)
            }
            #expect(all == 4)
            #expect(try await count(pool, where: "finalized_at IS NOT NULL") == 0)
        }
    }
}
