import ArgumentParser
import Foundation
import JobQueue
import Logging
import PDXCommandLine
import Postgres

struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Look at the job queue and act on its jobs.",
        discussion: """
            Examples:
              pdxctl queue stats
              pdxctl queue list --state discarded --queue notify
              pdxctl queue show 4211
              pdxctl queue retry 4211
              pdxctl queue retry --discarded --queue notify --yes
              pdxctl queue cancel 4211
              pdxctl queue prune --completed-older-than 1h --yes
            """,
        subcommands: [Stats.self, List.self, Show.self, Retry.self, Cancel.self, Prune.self]
    )
}

/// Connects, runs `body`, and closes, whatever happens.
func withDatabase<R: Sendable>(_ options: DatabaseOptions, _ body: (PostgresConnection) async throws -> R) async throws -> R {
    bootstrapLogging(level: .warning)
    let connection = try await PostgresConnection.connect(
        configuration: .init(connectionString: try options.required(), applicationName: "pdxctl"))
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw error
    }
}




extension QueueCommand {
    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per queue: jobs in each state, age of the oldest waiting job, jobs completed in the last minute.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let stats = try await withDatabase(database) { try await JobAdmin.stats(on: $0) }
            if json { return try printJSON(stats) }
            guard !stats.isEmpty else { return say("no jobs") }
            printTable(
                ["queue", "available", "oldest", "running", "scheduled", "retryable", "done/min", "discarded", "cancelled"],
                stats.map { s in [s.queue, "\(s.available)", formatAge(s.oldestAvailableAgeSeconds), "\(s.running)", "\(s.scheduled)",
                                  "\(s.retryable)", "\(s.completedLastMinute)", "\(s.discarded)", "\(s.cancelled)"] })
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs in one state, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: ArgumentHelp("available, scheduled, running, retryable, completed, discarded or cancelled.", valueName: "state"))
        var state: String
        @Option(help: ArgumentHelp("Only this queue.", valueName: "name")) var queue: String?
        @Option(help: ArgumentHelp("At most this many (1 to 10000).", valueName: "n")) var limit = 50
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard JobAdmin.states.contains(state) else {
                throw ValidationError("--state must be one of \(JobAdmin.states.joined(separator: ", ")), got '\(state)'")
            }
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000, got \(limit)") }
        }

        func run() async throws {
            let jobs = try await withDatabase(database) { try await JobAdmin.list(state: state, queue: queue, limit: limit, on: $0) }
            if json { return try printJSON(jobs) }
            guard !jobs.isEmpty else { return say("no \(state) jobs") }
            printTable(["id", "queue", "kind", "attempt", "scheduled", "last error"], jobs.map { job in
                let error = job.errors.last?.error.split(separator: "\n").first.map(String.init) ?? "-"
                return ["\(job.id)", job.queue, job.kind, "\(job.attempt)/\(job.maxAttempts)", formatDate(job.scheduledAt),
                        error.count > 60 ? String(error.prefix(59)) + "…" : error]
            })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job: its arguments and error history.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The job's id.") var id: Int64
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            guard let job = try await withDatabase(database, { try await JobAdmin.show(id: id, on: $0) }) else {
                throw JobNotFound(id: id)
            }
            if json { return try printJSON(job) }
            say("job \(job.id)  \(job.kind)  queue \(job.queue)  priority \(job.priority)")
            say("state:      \(job.state), attempt \(job.attempt) of \(job.maxAttempts)")
            say("scheduled:  \(formatDate(job.scheduledAt))    created: \(formatDate(job.createdAt))")
            say("attempted:  \(formatDate(job.attemptedAt)) by \(job.attemptedBy ?? "-")    lease until: \(formatDate(job.leaseExpiresAt))")
            if let finalized = job.finalizedAt { say("finalized:  \(formatDate(finalized))") }
            if let key = job.uniqueKey { say("unique key: \(key)") }
            say("args:       \(job.args)")
            if job.errors.isEmpty { say("errors:     none") }
            for error in job.errors {
                say("error (attempt \(error.attempt), \(error.at), \(error.worker ?? "-")):")
                for line in error.error.split(separator: "\n", omittingEmptySubsequences: false) { say("    \(line)") }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a retryable, scheduled, discarded or cancelled job now; or every discarded job.",
            discussion: "A job that used all its attempts gets one more. Its error history is kept.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The job's id.") var id: Int64?
        @Flag(help: "Retry every discarded job (of --queue, or of all queues).") var discarded = false
        @Option(help: ArgumentHelp("With --discarded: only this queue.", valueName: "name")) var queue: String?
        @OptionGroup var confirmation: ConfirmationOptions

        func validate() throws {
            if discarded == (id != nil) { throw ValidationError("give either a job id or --discarded") }
            if queue != nil && !discarded { throw ValidationError("--queue only goes with --discarded") }
        }

        func run() async throws {
            if let id {
                guard try await withDatabase(database, { try await JobAdmin.retry(id: id, on: $0) }) else {
                    throw CommandError("job \(id) cannot be retried: it does not exist, or it is available, running or completed")
                }
                return say("job \(id) is available again")
            }
            let scope = queue.map { "discarded jobs of queue \($0)" } ?? "all discarded jobs"
            guard try confirmation.confirm("Retry \(scope)?") else { throw ExitCode(1) }
            let count = try await withDatabase(database) { try await JobAdmin.retryDiscarded(queue: queue, on: $0) }
            say("\(count) jobs are available again")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a job that has not finished.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The job's id.") var id: Int64
        @Option(help: ArgumentHelp("Recorded in the job's history.", valueName: "text")) var reason = "cancelled by an administrator"
        @OptionGroup var confirmation: ConfirmationOptions

        func run() async throws {
            guard try confirmation.confirm("Cancel job \(id)?") else { throw ExitCode(1) }
            guard try await withDatabase(database, { try await JobAdmin.cancel(id: id, reason: reason, on: $0) }) else {
                throw CommandError("job \(id) cannot be cancelled: it does not exist or has already finished")
            }
            say("job \(id) is cancelled")
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete finished jobs now (the workers' leader also does it on its own schedule).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: ArgumentHelp("Completed jobs finished longer ago than this.", valueName: "duration"))
        var completedOlderThan = "24h"
        @Option(help: ArgumentHelp("Discarded and cancelled jobs finished longer ago than this.", valueName: "duration"))
        var failedOlderThan = "7d"
        @OptionGroup var confirmation: ConfirmationOptions

        func validate() throws {
            _ = try parseDuration(completedOlderThan, option: "--completed-older-than")
            _ = try parseDuration(failedOlderThan, option: "--failed-older-than")
        }

        func run() async throws {
            let completed = try parseDuration(completedOlderThan, option: "--completed-older-than")
            let failed = try parseDuration(failedOlderThan, option: "--failed-older-than")
            guard try confirmation.confirm(
                "Delete completed jobs older than \(completedOlderThan) and discarded or cancelled jobs older than \(failedOlderThan)?")
            else { throw ExitCode(1) }
            let deleted = try await withDatabase(database) {
                try await JobAdmin.prune(completedOlderThan: completed, failedOlderThan: failed, on: $0)
            }
            say("deleted \(deleted) finished jobs")
        }
    }
}

struct JobNotFound: Error, CustomStringConvertible {
    let id: Int64
    var description: String { "no job \(id); list jobs with 'pdxctl queue list --state <state>'" }
}
