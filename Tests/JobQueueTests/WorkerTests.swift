import Foundation
@testable import JobQueue
import Logging
import Metrics
import MetricsTestKit
import PDXTestSupport
import Postgres
import Testing

@Suite struct WorkerTests {
    @Test func runsEachJobWithItsTypedArgumentsAndCountsIt() async throws {
        try await withQueueDatabase { database, pool in
            let seen = Observed<[String: Int]>([:])
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in
                seen.update { $0[job.args.name] = job.args.times }
                return .completed
            }
            let metrics = TestMetrics()
            var configuration = fastConfiguration()
            configuration.metricsFactory = metrics
            let worker = try JobWorker(configuration: configuration, registry: registry, database: database, logger: quietLogger)
            try await pool.enqueue(try (0..<50).map { try NewJob(Greeting(name: "g\($0)", times: $0)) })
            try await whileRunning(worker) {
                try await waitUntil("50 jobs completed") { try await count(pool, where: "state = 'completed'") == 50 }
                // The leader counts the queue's depth at its rescue interval.
                try await waitUntil("depth gauge at zero") {
                    (try? metrics.expectGauge("pdx_queue_depth", [("queue", "default")]).lastValue) == 0
                }
            }
            #expect(seen.current.count == 50)
            #expect(seen.current["g7"] == 7)
            #expect(worker.recordedAttempts == 50)
            let queue = [("queue", "default")]
            #expect(try metrics.expectCounter("pdx_jobs_claimed_total", queue).totalValue == 50)
            #expect(try metrics.expectCounter("pdx_jobs_completed_total", queue).totalValue == 50)
            #expect(try metrics.expectTimer("pdx_job_wait_seconds", queue).values.count == 50)
            #expect(try metrics.expectTimer("pdx_job_run_seconds", queue).values.count == 50)
            #expect(try await count(pool, where: "state = 'running'") == 0)
        }
    }

    @Test func neverRunsMoreJobsOfAQueueThanItsConcurrency() async throws {
        try await withQueueDatabase { database, pool in
            struct Load { var now = 0, most = 0 }
            let load = Observed(Load())
            var registry = JobRegistry()
            registry.register(Greeting.self) { _ in
                load.update { $0.now += 1; $0.most = max($0.most, $0.now) }
                // Long enough that three overlap even when a busy machine starts them slowly (30 ms did not, beside the suite).
                try await Task.sleep(for: .milliseconds(300))
                load.update { $0.now -= 1 }
                return .completed
            }
            let worker = try JobWorker(configuration: fastConfiguration(queues: ["default": 3, "other": 2]), registry: registry,
                                       database: database, logger: quietLogger)
            try await pool.enqueue(try (0..<30).map { try NewJob(Greeting(name: "\($0)", times: 1)) })
            try await whileRunning(worker) {
                try await waitUntil("30 jobs completed") { try await count(pool, where: "state = 'completed'") == 30 }
            }
            #expect(load.current.most == 3)
        }
    }

    @Test func aThrowingHandlerIsRetriedWithGrowingDelaysThenDiscardedWithEveryError() async throws {
        try await withQueueDatabase { database, pool in
            struct Boom: Error, CustomStringConvertible { var attempt: Int; var description: String { "boom on attempt \(attempt)" } }
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in throw Boom(attempt: job.attempt) }
            let metrics = TestMetrics()
            // A long lease: this is about retries, and on a loaded machine a rescue would put its own error in the
            // history (CI saw one once, before ended jobs kept their leases until written).
            var configuration = fastConfiguration(lease: .seconds(60))
            configuration.metricsFactory = metrics
            let worker = try JobWorker(configuration: configuration, registry: registry, database: database, logger: quietLogger)
            let job = try await pool.enqueue(try NewJob(Greeting(name: "x", times: 1), maxAttempts: 4))
            try await whileRunning(worker) {
                try await waitUntil("the job discarded") { try await state(job.id, pool) == "discarded" }
            }
            let row = try await record(job.id, pool)
            #expect(row.attempt == 4)
            #expect(row.finalizedAt != nil)
            #expect(row.errors.map(\.attempt) == [1, 2, 3, 4])
            #expect(row.errors.map(\.error) == (1...4).map { "boom on attempt \($0)" })
            #expect(row.errors.allSatisfy { $0.worker == "test-worker" })
            // The attempts came one after another (the delays' schedule itself is pinned by
            // retryDelaysDoubleWithJitterUpToTheCap; the recorded times include the write's own delay).
            let times = row.errors.compactMap { parseTimestamp($0.at) }
            try #require(times.count == 4)
            #expect(times == times.sorted())
            let queue = [("queue", "default")]
            #expect(try metrics.expectCounter("pdx_jobs_failed_total", queue).totalValue == 3)
            #expect(try metrics.expectCounter("pdx_jobs_discarded_total", queue).totalValue == 1)
        }
    }

    @Test func aJobThatEndedKeepsItsLeaseUntilItsEndIsWrittenAndOthersGoOn() async throws {
        try await withQueueDatabase { database, pool in
            // Refuse to record the job named "held" as completed while the gate is closed; lease renewals,
            // rescues and other jobs pass.
            try await pool.withConnection { try await $0.executeScript(unsafeSQL: """
                CREATE TABLE test_gate (closed boolean NOT NULL);
                INSERT INTO test_gate VALUES (true);
                CREATE FUNCTION test_hold_completions() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.state = 'completed' AND NEW.args->>'name' = 'held' AND (SELECT closed FROM test_gate) THEN
                        RAISE EXCEPTION 'the test holds this completion back';
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER test_hold_completions BEFORE UPDATE ON pdx_jobs
                    FOR EACH ROW EXECUTE FUNCTION test_hold_completions();
                """) }
            // Twenty-one jobs that end together, so that their ends are written in one batch with the held one's.
            let runs = Observed<[String: Int]>([:])
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in
                runs.update { $0[job.args.name, default: 0] += 1 }
                for _ in 0..<3_000 where runs.current.count < 21 { try await Task.sleep(for: .milliseconds(10)) }
                return .completed
            }
            // Heartbeats every 6.7 s: shorter leases (2 s, 8 s) let the whole suite's load delay one past its end.
            let lease = Duration.seconds(20)
            let worker = try JobWorker(configuration: fastConfiguration(queues: ["default": 30], lease: lease), registry: registry,
                                       database: database, logger: Logger(label: "test.jobs", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await pool.enqueue(try (["held"] + (1...20).map { "other \($0)" }).map { try NewJob(Greeting(name: $0, times: 1)) })
            let heldID = try #require(try await pool.query("SELECT id FROM pdx_jobs WHERE args->>'name' = 'held'").scalar(Int64.self))
            let others = try await pool.query("SELECT id FROM pdx_jobs WHERE args->>'name' LIKE 'other %'").decode(Int64.self)
            try #require(others.count == 20)
            try await whileRunning(worker) {
                // The end that cannot be written holds up neither the ends written beside it nor the claims.
                try await waitUntil("the other jobs completed") {
                    try await pool.query("SELECT count(*) FROM pdx_jobs WHERE state = 'completed' AND id = ANY(\(others))").scalar(Int.self) == 20
                }
                let more = try await pool.enqueue(try NewJob(Greeting(name: "later", times: 1)))
                try await waitUntil("a later job completed") { try await state(more.id, pool) == "completed" }
                // A lease and more, with the rescuer looking every 200 ms: the held job ended here, so it is not
                // rescued (before ended jobs kept their leases, it ran again after each lease).
                try await Task.sleep(for: lease + .seconds(5))
                let held = try await pool.query("""
                    SELECT state::text, attempt, jsonb_array_length(errors) FROM pdx_jobs WHERE id = \(heldID)
                    """)[0].decode(String.self, Int.self, Int.self)
                #expect(held.0 == "running")
                #expect(held.1 == 1)
                #expect(held.2 == 0, "no rescue recorded")
                try await pool.execute("UPDATE test_gate SET closed = false")
                try await waitUntil("the job completed") { try await state(heldID, pool) == "completed" }
            }
            let row = try await record(heldID, pool)
            #expect(row.attempt == 1)
            #expect(row.errors.isEmpty)
            #expect(runs.current["held"] == 1, "the handler ran once")
            #expect(runs.current.count == 22 && runs.current.values.allSatisfy { $0 == 1 }, "every job ran once")
            #expect(worker.recordedAttempts == 22)
        }
    }

    /// The ends a claim carries stay among those whose leases the heartbeat renews until the claim commits: a claim
    /// held up beyond the lease's end must not let the rescuer run a finished job again.
    @Test func endsCarriedByAClaimInFlightKeepTheirLeases() async throws {
        try await withQueueDatabase { _, pool in
            let completer = Completer(pool: pool, batchLimit: 10, logger: quietLogger) {}
            for id in 1...3 { completer.add(Completion(id: Int64(id), attempt: 1, state: .completed)) }
            let ids = { Set(completer.unrecorded.map(\.id)) }
            let first = completer.take(limit: 2)
            #expect(first.map(\.id) == [1, 2])
            #expect(ids() == [1, 2, 3], "carried ends are still unrecorded while their claim is in flight")
            completer.recorded(first)
            #expect(ids() == [3], "committed with the claim: no longer renewed")
            let second = completer.take(limit: 5)
            #expect(ids() == [3])
            completer.giveBack(second)
            #expect(ids() == [3], "given back: renewed until a writer records it")
            #expect(completer.backlog == 1)
            #expect(completer.recordedCount == 2)
        }
    }

    @Test func aWorkerStopsInBoundedTimeWhenAnEndCannotBeWritten() async throws {
        try await withQueueDatabase { database, pool in
            try await pool.withConnection { try await $0.executeScript(unsafeSQL: """
                CREATE FUNCTION test_refuse_completions() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.state = 'completed' THEN RAISE EXCEPTION 'the test refuses every completion'; END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER test_refuse_completions BEFORE UPDATE ON pdx_jobs
                    FOR EACH ROW EXECUTE FUNCTION test_refuse_completions();
                """) }
            let ran = Observed(false)
            var registry = JobRegistry()
            registry.register(Greeting.self) { _ in
                ran.update { $0 = true }
                return .completed
            }
            let worker = try JobWorker(configuration: fastConfiguration(lease: .seconds(60), shutdownTimeout: .seconds(2)), registry: registry,
                                       database: database, logger: Logger(label: "test.jobs", factory: { _ in SwiftLogNoOpLogHandler() }))
            let job = try await pool.enqueue(try NewJob(Greeting(name: "unrecordable", times: 1)))
            let running = Task { try await worker.run() }
            try await waitUntil("the handler ran") { ran.current }
            let stopped = Observed(false)
            let start = ContinuousClock.now
            let stopping = Task {
                worker.stop()
                try await running.value
                stopped.update { $0 = true }
            }
            do {
                // Two seconds of running jobs' grace, ten of writing; the rest is room for a loaded machine.
                try await waitUntil("the worker stopped", within: .seconds(60)) { stopped.current }
            } catch {
                try await pool.execute("DROP TRIGGER test_refuse_completions ON pdx_jobs")  // let it finish
                _ = try? await stopping.value
                throw error
            }
            #expect(ContinuousClock.now - start < .seconds(60))
            // Unrecorded: still running under its lease, to be rescued and run again once the lease expires.
            let row = try await record(job.id, pool)
            #expect(row.state == "running" && row.attempt == 1)
        }
    }

    @Test func retryDelaysDoubleWithJitterUpToTheCap() throws {
        var configuration = fastConfiguration()
        configuration.retryBase = .seconds(1)
        configuration.retryCap = .seconds(60)
        for attempt in 1...10 {
            let nominal = pow(2.0, Double(attempt - 1))
            for _ in 0..<50 {
                let delay = configuration.retryDelay(afterAttempt: attempt) / .seconds(1)
                #expect(delay >= min(nominal * 0.75, 60) - 1e-9 && delay <= min(nominal * 1.25, 60) + 1e-9, "attempt \(attempt): \(delay)")
            }
        }
    }

    @Test func aHangingHandlerTimesOutAndIsRetried() async throws {
        try await withQueueDatabase { database, pool in
            var registry = JobRegistry()
            // Short enough to keep the test quick; the hang is an hour.
            registry.register(Greeting.self, timeout: .seconds(5)) { job in
                if job.attempt == 1 { try await Task.sleep(for: .seconds(3600)) }
                return .completed
            }
            // A lease far longer than the timeout: on a busy machine a late heartbeat must not turn the
            // timeout into a rescue.
            let worker = try JobWorker(configuration: fastConfiguration(lease: .seconds(60)), registry: registry, database: database,
                                       logger: quietLogger)
            let job = try await pool.enqueue(try NewJob(Greeting(name: "slow", times: 1)))
            let (_, elapsed) = try await measure {
                try await whileRunning(worker) {
                    try await waitUntil("the job completed") { try await state(job.id, pool) == "completed" }
                }
            }
            let row = try await record(job.id, pool)
            // The first attempt hung and timed out; a machine busy enough may time out the quick retry too,
            // which is the same behaviour again, so only the first attempt's fate is fixed here.
            #expect(row.attempt >= 2)
            #expect(row.errors.count == Int(row.attempt) - 1)
            #expect(row.errors.first?.error.contains("timed out after") == true)
            // (Against the handler's hour; beside the whole suite on two cores this measured 31 to 38 s once issue 17's tests joined it.)
            #expect(elapsed < .seconds(120), "timed out, not left hanging for the handler's hour")
        }
    }

    @Test func aHandlerCanSnoozeOrCancelItsJob() async throws {
        try await withQueueDatabase { database, pool in
            let runs = Observed<[(String, Int, Date)]>([])
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in
                let previous = runs.update { runs in
                    defer { runs.append((job.args.name, job.attempt, Date())) }
                    return runs.filter { $0.0 == job.args.name }.count
                }
                switch job.args.name {
                case "snooze": return previous == 0 ? .snooze(.milliseconds(500)) : .completed
                default: return .cancel(reason: "the demand was withdrawn")
                }
            }
            let worker = try JobWorker(configuration: fastConfiguration(), registry: registry, database: database, logger: quietLogger)
            let snoozed = try await pool.enqueue(try NewJob(Greeting(name: "snooze", times: 1)))
            let cancelled = try await pool.enqueue(try NewJob(Greeting(name: "cancel", times: 1)))
            try await whileRunning(worker) {
                try await waitUntil("both finalized") {
                    let first = try await state(snoozed.id, pool), second = try await state(cancelled.id, pool)
                    return first == "completed" && second == "cancelled"
                }
            }
            let snoozeRuns = runs.current.filter { $0.0 == "snooze" }
            #expect(snoozeRuns.map(\.1) == [1, 1], "a snooze does not count as an attempt")
            #expect(snoozeRuns[1].2.timeIntervalSince(snoozeRuns[0].2) >= 0.45)
            let row = try await record(cancelled.id, pool)
            #expect(row.finalizedAt != nil)
            #expect(row.errors.map(\.error) == ["cancelled by its handler: the demand was withdrawn"])
            #expect(runs.current.filter { $0.0 == "cancel" }.count == 1)
        }
    }

    @Test func unknownKindsAndUndecodableArgumentsAreDiscardedWithoutStoppingTheWorker() async throws {
        try await withQueueDatabase { database, pool in
            var registry = JobRegistry()
            registry.register(Greeting.self) { _ in .completed }
            let worker = try JobWorker(configuration: fastConfiguration(), registry: registry, database: database, logger: quietLogger)
            let unknown = try await pool.enqueue(NewJob(kind: "nobody.handles.this"))
            let garbled = try await pool.enqueue(NewJob(kind: Greeting.kind, args: #"{"name": 5}"#))
            let good = try await pool.enqueue(try NewJob(Greeting(name: "fine", times: 1)))
            try await whileRunning(worker) {
                try await waitUntil("all three finalized") {
                    try await count(pool, where: "finalized_at IS NOT NULL") == 3
                }
            }
            #expect(try await state(good.id, pool) == "completed")
            let unknownRow = try await record(unknown.id, pool)
            #expect(unknownRow.state == "discarded")
            #expect(unknownRow.attempt == 1, "discarded at once, not retried")
            #expect(unknownRow.errors.first?.error.contains("no handler for job kind nobody.handles.this") == true)
            let garbledRow = try await record(garbled.id, pool)
            #expect(garbledRow.state == "discarded")
            #expect(garbledRow.errors.first?.error.contains("do not decode as Greeting") == true)
        }
    }

    @Test func gracefulShutdownLetsShortJobsFinishAndHandsTheRestBack() async throws {
        try await withQueueDatabase { database, pool in
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in
                switch job.args.name {
                case "short": try await Task.sleep(for: .milliseconds(200))
                case "deaf":
                    // Ignores cancellation: shutdown must not wait for it beyond its grace.
                    await withCheckedContinuation { continuation in
                        DispatchQueue.global().asyncAfter(deadline: .now() + 600) { continuation.resume() }
                    }
                default: try await Task.sleep(for: .seconds(3600))
                }
                return .completed
            }
            // A lease far beyond the test, so a busy machine's late renewal does not stop an attempt before the shutdown hands it back.
            let worker = try JobWorker(configuration: fastConfiguration(lease: .seconds(120), shutdownTimeout: .milliseconds(600)), registry: registry,
                                       database: database, logger: quietLogger)
            let names = ["short", "short", "short", "long", "long", "deaf"]
            let jobs = try await pool.enqueue(try names.map { try NewJob(Greeting(name: $0, times: 1)) })
            let running = Task { try await worker.run() }
            try await waitUntil("all six running") { try await count(pool, where: "state = 'running'") == 6 }
            let (_, stopping) = try await measure {
                worker.stop()
                try await running.value
            }
            // The stop takes about two seconds; the bound is against waiting for the deaf handler, not a latency figure
            // (beside the whole suite on two cores it once took 30.08 s against an earlier bound of 30).
            #expect(stopping < .seconds(120), "the deaf handler (600 s) is handed back after a short grace, even on a busy machine")
            #expect(try await count(pool, where: "state = 'running'") == 0)
            for (job, name) in zip(jobs, names) {
                let row = try await record(job.id, pool)
                if name == "short" {
                    #expect(row.state == "completed")
                } else {
                    #expect(row.state == "available", "\(name) is handed back")
                    #expect(row.attempt == 0, "a handed-back attempt does not count")
                    #expect(row.errors.isEmpty)
                }
            }
        }
    }

    @Test func theTransactionalPatternTakesEffectExactlyOnce() async throws {
        try await withQueueDatabase { database, pool in
            var registry = JobRegistry()
            DiagnosticJobs.register(into: &registry, pool: pool, workerID: "test-worker")
            let worker = try JobWorker(configuration: fastConfiguration(), registry: registry, database: database, logger: quietLogger)
            try await pool.enqueue(try (0..<200).map { _ in try NewJob(DiagnosticJobs.Effect()) })
            try await whileRunning(worker) {
                // What is checked is exactly-once, not speed: a suite busy with benchmarks may take a while.
                try await waitUntil("200 jobs completed", within: .seconds(90)) { try await count(pool, where: "state = 'completed'") == 200 }
            }
            let (rows, jobs) = try await pool.query("SELECT count(*), count(DISTINCT job_id) FROM pdx_job_effects")[0].decode(Int.self, Int.self)
            #expect(rows == 200 && jobs == 200)
        }
    }

    @Test func completingOnAConnectionFailsAndRollsBackWhenAnotherAttemptOwnsTheJob() async throws {
        try await withQueueDatabase { database, pool in
            let outcome = Observed<String?>(nil)
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in
                do {
                    try await pool.withTransaction { connection in
                        try await connection.execute("""
                            INSERT INTO pdx_job_effects (job_id, attempt, worker, started_at) VALUES (\(job.id), 1, 'w', now())
                            """)
                        // Meanwhile the lease expired and another worker took the job over.
                        try await pool.execute("""
                            UPDATE pdx_jobs SET attempt = attempt + 1, attempted_by = 'other', lease_expires_at = now() + interval '1 hour'
                            WHERE id = \(job.id)
                            """)
                        try await job.complete(on: connection)
                    }
                    outcome.update { $0 = "completed" }
                } catch let error as JobLeaseLost {
                    outcome.update { $0 = "\(error)" }
                    throw error
                }
                return .completed
            }
            // A long lease: the attempt must not be stopped by its own watchdog on a busy machine.
            let worker = try JobWorker(configuration: fastConfiguration(lease: .seconds(60)), registry: registry, database: database, logger: quietLogger)
            let job = try await pool.enqueue(try NewJob(Greeting(name: "x", times: 1)))
            try await whileRunning(worker) {
                try await waitUntil("the handler finished") { outcome.current != nil }
                try await Task.sleep(for: .milliseconds(300))  // let the worker record its (void) failure
            }
            #expect(outcome.current?.contains("no longer owns the job") == true)
            #expect(try await pool.query("SELECT count(*) FROM pdx_job_effects").scalar(Int.self) == 0)
            let row = try await record(job.id, pool)
            #expect(row.state == "running" && row.attempt == 2 && row.attemptedBy == "other" && row.errors.isEmpty,
                    "the other attempt's row is untouched: \(row)")
        }
    }

    /// Many jobs completed in one statement (a handler doing several jobs' work in one transaction): when
    /// one of them belongs to another attempt now, none is marked and the transaction rolls back; the
    /// others then complete together.
    @Test func completingManyJobsTogetherMarksNoneWhenOneWasTakenOver() async throws {
        try await withQueueDatabase { database, pool in
            let gathered = Observed<[Job<Greeting>]>([])
            let outcome = Observed<(lost: Int64?, runningAfterRollback: Int, done: Bool)>((nil, 0, false))
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in
                let jobs = gathered.update { $0.append(job); return $0 }
                if jobs.count == 3 {
                    let takenOver = jobs[1]
                    try await pool.execute("""
                        UPDATE pdx_jobs SET attempt = attempt + 1, attempted_by = 'other', lease_expires_at = now() + interval '1 hour'
                        WHERE id = \(takenOver.id)
                        """)
                    do {
                        try await pool.withTransaction { connection in try await Job.complete(jobs, on: connection) }
                    } catch let error as JobLeaseLost {
                        let running = try await count(pool, where: "state = 'running' AND attempted_by = 'test-worker'")
                        outcome.update { $0.lost = error.id; $0.runningAfterRollback = running }
                    }
                    try await pool.withTransaction { connection in try await Job.complete([jobs[0], jobs[2]], on: connection) }
                    outcome.update { $0.done = true }
                } else {
                    try await waitUntil("the batch") { outcome.current.done }
                }
                return .completed
            }
            let worker = try JobWorker(configuration: fastConfiguration(lease: .seconds(60)), registry: registry, database: database, logger: quietLogger)
            for name in ["a", "b", "c"] { _ = try await pool.enqueue(try NewJob(Greeting(name: name, times: 1))) }
            try await whileRunning(worker) {
                try await waitUntil("the batch") { outcome.current.done }
                try await Task.sleep(for: .milliseconds(300))  // let the worker record what it records
            }
            let jobs = gathered.current
            #expect(outcome.current.lost == jobs[1].id)
            #expect(outcome.current.runningAfterRollback == 2, "the two still owned were not completed by the failed statement")
            let first = try await state(jobs[0].id, pool), third = try await state(jobs[2].id, pool)
            #expect(first == "completed" && third == "completed")
            let other = try await record(jobs[1].id, pool)
            #expect(other.state == "running" && other.attempt == 2 && other.attemptedBy == "other", "the other attempt's row is untouched")
        }
    }

    @Test func anAttemptWhoseJobWasTakenOverIsStoppedAtTheNextHeartbeat() async throws {
        try await withQueueDatabase { database, pool in
            let stopped = Observed<Bool>(false)
            let started = Observed<Bool>(false)
            var registry = JobRegistry()
            registry.register(Greeting.self) { _ in
                started.update { $0 = true }
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    stopped.update { $0 = true }
                    throw error
                }
                return .completed
            }
            // Heartbeats every 10 s; the watchdog would stop the attempt only at 27 s (0.9 of the lease),
            // so a stop within 24 s is the heartbeat's doing, even on a busy machine (a 15 s lease and an 11 s
            // limit left too little room once: the suite on two cores delays a heartbeat by seconds).
            let worker = try JobWorker(configuration: fastConfiguration(lease: .seconds(30)), registry: registry,
                                       database: database, logger: quietLogger)
            let job = try await pool.enqueue(try NewJob(Greeting(name: "x", times: 1)))
            try await whileRunning(worker) {
                try await waitUntil("the handler started") { started.current }
                try await pool.execute("UPDATE pdx_jobs SET attempt = attempt + 1, attempted_by = 'other' WHERE id = \(job.id)")
                try await waitUntil("the handler stopped", within: .seconds(24)) { stopped.current }
            }
            // Nothing of the stopped attempt's: the job is still the other attempt's, not completed (on a slow machine the lease
            // may have run out by now and the rescuer made it available again: that is the rescuer's write).
            let row = try await record(job.id, pool)
            #expect(row.attemptedBy == "other" && ["running", "available", "retryable", "discarded"].contains(row.state), "the stopped attempt wrote nothing: \(row)")
        }
    }

    @Test func aScheduledJobRunsAtItsTimeAndNotBefore() async throws {
        try await withQueueDatabase { database, pool in
            let ranAt = Observed<Date?>(nil)
            var registry = JobRegistry()
            registry.register(Greeting.self) { _ in
                ranAt.update { $0 = Date() }
                return .completed
            }
            let worker = try JobWorker(configuration: fastConfiguration(), registry: registry, database: database, logger: quietLogger)
            let due = Date().addingTimeInterval(1.5)
            try await pool.enqueue(try NewJob(Greeting(name: "later", times: 1), runAt: due))
            try await whileRunning(worker) {
                try await waitUntil("the job ran") { ranAt.current != nil }
            }
            let ran = try #require(ranAt.current)
            #expect(ran >= due.addingTimeInterval(-0.05))
            // (Beside the whole suite on two cores this ran 11 to 12 s late once issue 17's tests joined it.)
            #expect(ran < due.addingTimeInterval(30), "on time, give or take a busy machine")
        }
    }

    @Test func notificationsWakeAnIdleWorkerWithoutPolling() async throws {
        try await withQueueDatabase { database, pool in
            let ranAt = Observed<ContinuousClock.Instant?>(nil)
            var registry = JobRegistry()
            registry.register(Greeting.self) { _ in
                ranAt.update { $0 = .now }
                return .completed
            }
            var configuration = fastConfiguration()
            configuration.pollInterval = .seconds(60)
            let worker = try JobWorker(configuration: configuration, registry: registry, database: database, logger: quietLogger)
            try await whileRunning(worker) {
                try await Task.sleep(for: .milliseconds(700))  // connected, listening and idle
                let enqueued = ContinuousClock.now
                try await pool.enqueue(try NewJob(Greeting(name: "now", times: 1)))
                // (A scheduled job once ran 11-12 s late beside the whole suite: the bound only tells a wake-up from the poll.)
                try await waitUntil("the job ran", within: .seconds(50)) { ranAt.current != nil }
                #expect(try #require(ranAt.current) - enqueued < .seconds(45), "woken by the notification, not the 60 s poll")
            }
        }
    }

    @Test func claimLoopsWhoseConnectionsAreTerminatedTakeNewOnesAndKeepClaiming() async throws {
        try await withQueueDatabase { database, pool in
            let ran = Observed<Set<String>>([])
            var registry = JobRegistry()
            registry.register(Greeting.self) { job in
                ran.update { _ = $0.insert(job.args.name) }
                return .completed
            }
            let worker = try JobWorker(configuration: fastConfiguration(), registry: registry, database: database, logger: quietLogger)
            try await whileRunning(worker) {
                try await pool.enqueue(try NewJob(Greeting(name: "before", times: 1)))
                try await waitUntil("the first job completed") { try await count(pool, where: "state = 'completed'") == 1 }
                // Every connection of the worker (its claim loops hold theirs while they wait) is cut.
                let killed = try await pool.query("""
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                    """).scalar(Int.self) ?? 0
                #expect(killed >= 1)
                try await pool.enqueue(try (0..<20).map { try NewJob(Greeting(name: "after \($0)", times: 1)) })
                try await waitUntil("the jobs enqueued after the cut completed", within: .seconds(30)) {
                    try await count(pool, where: "state = 'completed'") == 21
                }
            }
            #expect(ran.current.count == 21)
        }
    }

    @Test func settingsThatCannotWorkAreRefusedNamingTheSetting() async throws {
        let database = PostgresConfiguration(connectionString: "postgresql:///unused")
        var configuration = fastConfiguration(queues: ["default": 0])
        var error = #expect(throws: JobInputError.self) {
            try JobWorker(configuration: configuration, registry: JobRegistry(), database: database)
        }
        #expect(error?.field == "concurrency")
        configuration = fastConfiguration(lease: .milliseconds(10))
        error = #expect(throws: JobInputError.self) {
            try JobWorker(configuration: configuration, registry: JobRegistry(), database: database)
        }
        #expect(error?.field == "lease")
    }
}

/// Parses PostgreSQL's jsonb timestamps ("2026-11-27T04:08:35.123456+00:00").
func parseTimestamp(_ text: String) -> Date? {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    for format in ["yyyy-MM-dd'T'HH:mm:ss.SSSSSSxxx", "yyyy-MM-dd'T'HH:mm:ss.SSSSSxxx", "yyyy-MM-dd'T'HH:mm:ss.SSSSxxx",
                   "yyyy-MM-dd'T'HH:mm:ss.SSSxxx", "yyyy-MM-dd'T'HH:mm:ss.SSxxx", "yyyy-MM-dd'T'HH:mm:ss.Sxxx", "yyyy-MM-dd'T'HH:mm:ssxxx"] {
        formatter.dateFormat = format
        if let date = formatter.date(from: text) { return date }
    }
    return nil
}
