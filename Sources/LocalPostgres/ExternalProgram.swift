/// Runs a program to completion without blocking a thread of the cooperative pool, with its output
/// (stdout and stderr together) captured; used for PostgreSQL's client programs such as pgbench.
public enum ExternalProgram {
    public struct Outcome: Sendable {
        public var status: Int32
        public var output: String
    }

    public static func run(_ program: String, _ arguments: [String]) async throws -> Outcome {
        let outcome = try await ProcessRunner(serverUser: nil, runuser: nil).run(program, arguments)
        return Outcome(status: outcome.status, output: outcome.output)
    }
}
