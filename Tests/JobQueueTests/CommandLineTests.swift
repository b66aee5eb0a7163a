import Foundation
@testable import JobQueue
import PDXCommandLine
import PDXTestSupport
import Postgres
import Testing

/// `pdxctl queue` and `pdx work` as an operator runs them.
@Suite struct CommandLineTests {
    @Test func queueCommandsReadAndChangeJobs() async throws {
        try await withQueueDatabase { database, pool in
            let url = TestDatabase.connectionString(database)
            let failing = try await pool.enqueue(NewJob(kind: "k", args: #"{"demand": 7}"#, queue: "match"))
            try await pool.execute("""
                UPDATE pdx_jobs SET state = 'discarded', attempt = 3, max_attempts = 3, finalized_at = now(),
                    errors = '[{"at": "2026-11-27T00:00:00+00:00", "attempt": 3, "error": "scenario not allowed", "worker": "w"}]'
                WHERE id = \(failing.id)
                """)
            let waiting = try await pool.enqueue(NewJob(kind: "k", queue: "notify"))

            let stats = try await run("pdxctl", "queue", "stats", "--json", "--database-url", url)
            #expect(stats.status == 0, "\(stats.error)")
            // snake_case, as the HTTP API spells its JSON.
            let decoder = snakeCaseDecoder()
            let decoded = try decoder.decode([JobAdmin.QueueStats].self, from: Data(stats.output.utf8))
            #expect(decoded.map(\.queue) == ["match", "notify"])
            #expect(decoded[0].discarded == 1 && decoded[1].available == 1)
            let table = try await run("pdxctl", "queue", "stats", "--database-url", url)
            #expect(table.output.hasPrefix("queue") && table.output.contains("notify"))

            let listed = try await run("pdxctl", "queue", "list", "--state", "discarded", "--database-url", url)
            #expect(listed.output.contains("\(failing.id)") && listed.output.contains("scenario not allowed"))
            let shown = try await run("pdxctl", "queue", "show", "\(failing.id)", "--database-url", url)
            #expect(shown.output.contains(#"{"demand": 7}"#) && shown.output.contains("scenario not allowed"))

            let retried = try await run("pdxctl", "queue", "retry", "\(failing.id)", "--database-url", url)
            #expect(retried.status == 0 && retried.output.contains("available again"))
            #expect(try await record(failing.id, pool).maxAttempts == 4)

            let refused = try await run("pdxctl", "queue", "cancel", "\(waiting.id)", "--database-url", url)
            #expect(refused.status != 0 && refused.error.contains("pass --yes"), "no terminal to ask on")
            let cancelled = try await run("pdxctl", "queue", "cancel", "\(waiting.id)", "--yes", "--database-url", url)
            #expect(cancelled.status == 0)
            #expect(try await state(waiting.id, pool) == "cancelled")

            let pruned = try await run("pdxctl", "queue", "prune", "--completed-older-than", "0s", "--failed-older-than", "0s", "--yes",
                                 "--database-url", url)
            #expect(pruned.output.contains("deleted 1 finished jobs"))
        }
    }

    @Test func badInputIsRefusedNamingTheOptionAndTheRule() async throws {
        try await withQueueDatabase { database, _ in
            let url = TestDatabase.connectionString(database)
            let cases: [([String], String)] = [
                (["pdxctl", "queue", "list", "--state", "done"], "--state must be one of"),
                (["pdxctl", "queue", "list", "--state", "running", "--limit", "0"], "--limit must be from 1 to 10000"),
                (["pdxctl", "queue", "show", "99999"], "no job 99999"),
                (["pdxctl", "queue", "show", "x"], "is invalid for '<id>'"),
                (["pdxctl", "queue", "retry"], "give either a job id or --discarded"),
                (["pdxctl", "queue", "retry", "99999"], "cannot be retried"),
                (["pdxctl", "queue", "prune", "--completed-older-than", "soon", "--yes"], "--completed-older-than must be a duration"),
                (["pdx", "work", "--queues", "a,a"], "must not name a queue twice"),
                (["pdx", "work", "--queues", "a,,b"], "--queues must be comma-separated names"),
                (["pdx", "work", "--concurrency", "0"], "--concurrency must be from 1 to 10000"),
                (["pdx", "work", "--lease", "10ms"], "--lease must be at least 1s"),
            ]
            for (arguments, message) in cases {
                let result = try await run(arguments[0], Array(arguments.dropFirst()) + ["--database-url", url])
                #expect(result.status != 0, "\(arguments) should fail")
                #expect(result.error.contains(message), "\(arguments): \(result.error)")
            }
        }
    }

    @Test func durationsReadAsOperatorsWriteThem() throws {
        #expect(try parseDuration("500ms", option: "--x") == .milliseconds(500))
        #expect(try parseDuration("90s", option: "--x") == .seconds(90))
        #expect(try parseDuration("90", option: "--x") == .seconds(90))
        #expect(try parseDuration("15m", option: "--x") == .seconds(900))
        #expect(try parseDuration("24h", option: "--x") == .seconds(86_400))
        #expect(try parseDuration("7d", option: "--x") == .seconds(604_800))
        for bad in ["", "s", "-5s", "1.5s", "5 s", "5w", "99999999999999999d"] {
            #expect(throws: (any Error).self, "\(bad)") { try parseDuration(bad, option: "--x") }
        }
    }
}

/// The admin CLI links what it uses: the market's SQL, not the HTTP server (nor the benchmarks, nor the
/// dev environment) — no symbol of Hummingbird is in its binary.
@Suite struct LinkageTests {
    @Test func pdxctlDoesNotLinkTheHTTPServer() throws {
        let folder = try pdxExecutable().deletingLastPathComponent()
        let pdxctl = try Data(contentsOf: folder.appendingPathComponent("pdxctl"))
        let pdx = try Data(contentsOf: folder.appendingPathComponent("pdx"))
        let marker = Data("Hummingbird".utf8)
        #expect(pdx.range(of: marker) != nil, "the check finds the server where it is linked")
        #expect(pdxctl.range(of: marker) == nil, "pdxctl links no Hummingbird")
    }
}

private func run(_ executable: String, _ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
    try await runBuilt(executable, arguments)
}

private func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
    try await runBuilt(executable, arguments)
}
