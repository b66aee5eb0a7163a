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

/// Starts `program` with stdin from /dev/null, stdout and stderr appended to `outputPath`, and every
/// other descriptor of this process closed in the child (so a server it starts holds none of them).
func spawn(_ program: String, _ arguments: [String], outputPath: String = "/dev/null") throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
    for descriptor in open where descriptor > 2 {
        // glibc ignores descriptors that closed in the meantime.
        posix_spawn_file_actions_addclose(&actions, descriptor)
    }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var cArguments = ([program] + arguments).map { strdup($0) }
    cArguments.append(nil)
    defer { for pointer in cArguments { free(pointer) } }
    // The child starts with no blocked signals and default handlers: threads of Swift's pool block most
    // signals, and a child that inherits that mask never sees SIGALRM (pgbench -T) or SIGTERM.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let result = posix_spawn(&pid, program, &actions, &attributes, cArguments, environ)
    guard result == 0 else {
        throw LocalPostgresError("cannot run \(program): \(String(cString: strerror(result)))")
    }
    return pid
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
