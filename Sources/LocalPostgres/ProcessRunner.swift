import Foundation

/// Runs programs for the cluster, as the `postgres` OS user when this process is root
/// (PostgreSQL refuses to run as root).
struct ProcessRunner: Sendable {
    /// The OS user the server runs as, when it is not the current user.
    let serverUser: String?
    let runuser: String?

    static func current() throws -> ProcessRunner {
        guard geteuid() == 0 else { return ProcessRunner(serverUser: nil, runuser: nil) }
        guard getpwnam("postgres") != nil else {
            throw LocalPostgresError("""
                running as root, but there is no `postgres` OS user to run PostgreSQL as (it refuses root). \
                Create one (`useradd --system postgres`, or install the postgresql package), or run as a normal user.
                """)
        }
        let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let runuser else {
            throw LocalPostgresError("running as root needs `runuser` (util-linux) to start PostgreSQL as the postgres user")
        }
        return ProcessRunner(serverUser: "postgres", runuser: runuser)
    }

    struct Outcome {
        var status: Int32
        var output: String
        var succeeded: Bool { status == 0 }
    }

    /// Runs `program` as the server's user and waits for it without blocking a thread.
    func runAsServer(_ program: String, _ arguments: [String]) async throws -> Outcome {
        if let serverUser, let runuser {
            return try await run(runuser, ["-u", serverUser, "--", program] + arguments)
        }
        return try await run(program, arguments)
    }

    /// The command line that runs `program` as the server's user (for scripts such as the watchdog).
    func commandLineAsServer(_ program: String, _ arguments: [String]) -> [String] {
        if let serverUser, let runuser { return [runuser, "-u", serverUser, "--", program] + arguments }
        return [program] + arguments
    }

    /// Runs a program with output captured in a temporary file and waits for it on a thread of its own.
    ///
    /// Not Foundation's `Process`: it learns of a child's exit through a descriptor the child inherits, so
    /// `pg_ctl start`, whose server keeps every inherited descriptor, would never be seen to finish. Here
    /// the child closes every descriptor above 2 before it runs the program, and `waitpid` reaps it.
    func run(_ program: String, _ arguments: [String]) async throws -> Outcome {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("pdx-\(getpid())-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let pid = try spawn(program, arguments, outputPath: outputPath)
        let status = await waitForExit(pid)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Outcome(status: status, output: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Makes `path` (a folder this process created) belong to the server's user.
    func giveToServer(_ path: String) throws {
        guard let serverUser, let entry = getpwnam(serverUser) else { return }
        guard chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid) == 0 else {
            throw LocalPostgresError("cannot give \(path) to the \(serverUser) user: \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the server's user can create files in `path` (every parent must be traversable).
    func serverCanWrite(_ path: String) async -> Bool {
        guard serverUser != nil else { return access(path, W_OK | X_OK) == 0 }
        return (try? await runAsServer("/usr/bin/test", ["-w", path, "-a", "-x", path]).succeeded) ?? false
    }
}

/// Starts `program` with stdin from /dev/null and stdout and stderr appended to `outputPath`
/// (`ChildProcess.swift`'s `spawn`: every other descriptor closed in the child).
func spawn(_ program: String, _ arguments: [String], outputPath: String = "/dev/null") throws -> pid_t {
    try spawn(program, arguments, standardInput: .null, standardOutput: .file(outputPath), standardError: .file(outputPath))
}

/// Waits for a child on a thread of its own (never on the cooperative pool) and returns its exit status.
func waitForExit(_ pid: pid_t) async -> Int32 {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            // WIFEXITED / WEXITSTATUS, and 128 + signal for a killed child, as shells report it.
            let signal = status & 0x7f
            continuation.resume(returning: signal == 0 ? (status >> 8) & 0xff : 128 + signal)
        }
    }
}
