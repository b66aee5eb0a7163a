import Foundation
@testable import JobQueue
import PDXTestSupport
import Postgres
import Testing

@Suite struct EnqueueTests {
    @Test func oneJobStoresItsTypedArguments() async throws {
        try await withQueueDatabase { _, pool in
            let job = try await pool.enqueue(try NewJob(Greeting(name: "数据", times: 2), queue: "mail", priority: 3, maxAttempts: 7))
            #expect(!job.duplicate)
            let row = try await record(job.id, pool)
            #expect(row.kind == Greeting.kind)
            #expect(row.queue == "mail")
            #expect(row.priority == 3)
            #expect(row.maxAttempts == 7)
            #expect(row.state == "available")
            #expect(row.attempt == 0)
            let args = try JSONDecoder().decode(Greeting.self, from: Data(row.args.utf8))
            #expect(args.name == "数据" && args.times == 2)
        }
    }

    @Test func manyJobsInOneRoundTripKeepTheirOrder() async throws {
        try await withQueueDatabase { _, pool in
            let jobs = try (0..<500).map { try NewJob(Greeting(name: "n\($0)", times: $0)) }
            let enqueued = try await pool.enqueue(jobs)
            #expect(enqueued.count == 500)
            #expect(enqueued.map(\.id) == enqueued.map(\.id).sorted())
            let names = try await pool.query("SELECT args->>'name' FROM pdx_jobs WHERE id = ANY(\(enqueued.map(\.id))) ORDER BY id")
                .decode(String.self)
            #expect(names == (0..<500).map { "n\($0)" })
        }
    }

    @Test func aJobEnqueuedInATransactionCommitsOrRollsBackWithIt() async throws {
        try await withQueueDatabase { _, pool in
            try await pool.execute("CREATE TABLE state_changes (id int PRIMARY KEY)")
            try await pool.withTransaction { connection in
                try await connection.execute("INSERT INTO state_changes VALUES (1)")
                try await connection.enqueue(try NewJob(Greeting(name: "committed", times: 1)))
            }
            struct Abandon: Error {}
            await #expect(throws: Abandon.self) {
                try await pool.withTransaction { connection in
                    try await connection.execute("INSERT INTO state_changes VALUES (2)")
                    try await connection.enqueue(try NewJob(Greeting(name: "rolled back", times: 1)))
                    throw Abandon()
                }
            }
            #expect(try await pool.query("SELECT count(*) FROM state_changes").scalar(Int.self) == 1)
            let names = try await pool.query("SELECT args->>'name' FROM pdx_jobs").decode(String.self)
            #expect(names == ["committed"])
        }
    }

    @Test func aFutureJobIsScheduledAndAPastOneAvailable() async throws {
        try await withQueueDatabase { _, pool in
            let later = try await pool.enqueue(try NewJob(Greeting(name: "later", times: 1), runAt: Date().addingTimeInterval(3600)))
            let past = try await pool.enqueue(try NewJob(Greeting(name: "past", times: 1), runAt: Date().addingTimeInterval(-60)))
            #expect(try await state(later.id, pool) == "scheduled")
            #expect(try await state(past.id, pool) == "available")
            let scheduledAt = try await record(later.id, pool).scheduledAt
            #expect(abs(scheduledAt.timeIntervalSinceNow - 3600) < 60)
        }
    }

    @Test func aDuplicateUniqueKeyReturnsTheExistingJob() async throws {
        try await withQueueDatabase { _, pool in
            let first = try await pool.enqueue(try NewJob(Greeting(name: "a", times: 1), uniqueKey: "demand-42"))
            let again = try await pool.enqueue(try NewJob(Greeting(name: "b", times: 1), uniqueKey: "demand-42"))
            #expect(again == EnqueuedJob(id: first.id, duplicate: true))
            // In one batch: new keys, a key already stored and a key repeated within the batch.
            let batch = try await pool.enqueue([
                try NewJob(Greeting(name: "c", times: 1), uniqueKey: "demand-43"),
                try NewJob(Greeting(name: "d", times: 1), uniqueKey: "demand-42"),
                try NewJob(Greeting(name: "e", times: 1)),
                try NewJob(Greeting(name: "f", times: 1), uniqueKey: "demand-43"),
            ])
            #expect(batch[0].duplicate == false)
            #expect(batch[1] == EnqueuedJob(id: first.id, duplicate: true))
            #expect(batch[2].duplicate == false)
            #expect(batch[3] == EnqueuedJob(id: batch[0].id, duplicate: true))
            #expect(try await count(pool, where: "true") == 3)
            // Once the first job is finalized, its key is free again.
            try await pool.execute("UPDATE pdx_jobs SET state = 'completed', finalized_at = now() WHERE id = \(first.id)")
            let fresh = try await pool.enqueue(try NewJob(Greeting(name: "g", times: 1), uniqueKey: "demand-42"))
            #expect(!fresh.duplicate && fresh.id != first.id)
        }
    }

    @Test func badJobsAreRefusedNamingTheFieldAndNothingIsStored() async throws {
        try await withQueueDatabase { _, pool in
            let good = try NewJob(Greeting(name: "ok", times: 1))
            let cases: [(NewJob, String)] = [
                (NewJob(kind: ""), "kind"),
                (NewJob(kind: "k", queue: ""), "queue"),
                (NewJob(kind: "k", priority: 0), "priority"),
                (NewJob(kind: "k", maxAttempts: 0), "maxAttempts"),
                (NewJob(kind: "k", uniqueKey: ""), "uniqueKey"),
                (NewJob(kind: "k", args: "[1]"), "args"),
            ]
            for (bad, field) in cases {
                let error = await #expect(throws: JobInputError.self) { try await pool.enqueue([good, bad]) }
                #expect(error?.field == field)
            }
            // Arguments that claim to be an object but are not JSON are refused by the server.
            await #expect(throws: PostgresError.self) { try await pool.enqueue([good, NewJob(kind: "k", args: "{oops")]) }
            #expect(try await count(pool, where: "true") == 0)
        }
    }
}
