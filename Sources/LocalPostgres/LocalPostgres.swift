public import Foundation

/// A private PostgreSQL cluster in a folder: created with `initdb` on first start, started and stopped
/// with `pg_ctl`, reached through a Unix socket inside the folder (TCP on loopback optional).
///
/// When this process is root, the server runs as the `postgres` OS user (PostgreSQL refuses root).
/// If that user cannot reach the folder (a checkout under a private home such as /root), the cluster is
/// placed under /var/tmp instead and the folder becomes a symbolic link to it.
public struct LocalPostgres: Sendable {
    public enum Profile: String, Sendable {
        /// Fast and disposable: no fsync, no full-page writes, asynchronous commit.
        case test
        /// Durable: PostgreSQL's safe defaults.
        case dev
    }

    /// The superuser role created by `initdb`; connections authenticate locally by trust.
    public static let superuser = "pdx"

    public let directory: URL
    public let profile: Profile
    public let port: Int
    /// Also listen on 127.0.0.1:`port`.
    public let listensOnTCP: Bool

    public init(directory: URL, profile: Profile, port: Int = 5432, listensOnTCP: Bool = false) {
        self.directory = directory.standardizedFileURL
        self.profile = profile
        self.port = port
        self.listensOnTCP = listensOnTCP
    }

    /// Where a started cluster can be reached.
    public struct Endpoint: Sendable {
        public let socketDirectory: String
        public let port: Int
        public let user: String
        public let logFile: String
        /// False when the server was already running (another process started it): leave it running.
        public let startedNow: Bool

        func started() -> Endpoint {
            Endpoint(socketDirectory: socketDirectory, port: port, user: user, logFile: logFile, startedNow: true)
        }

        /// A libpq keyword/value connection string for `database`.
        public func connectionString(database: String = "postgres") -> String {
            func quoted(_ value: String) -> String {
                "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
            }
            return "host=\(quoted(socketDirectory)) port=\(port) user=\(quoted(user)) dbname=\(quoted(database))"
        }
    }

    /// The cluster's data folder (PGDATA), where its configuration files live.
    public var dataDirectory: URL { directory.resolvingSymlinksInPath().appendingPathComponent("data") }

    // MARK: Life cycle

    /// Creates the cluster if needed and starts it (or finds it already running); returns when it accepts
    /// connections.
    @discardableResult
    public func start() async throws -> Endpoint {
        let binaries = try PostgresBinaries.find()
        let runner = try ProcessRunner.current()
        let root = try await prepareRoot(runner)
        let data = root.appendingPathComponent("data").path
        var endpoint = try endpoint(root: root, runner: runner)
        if !FileManager.default.fileExists(atPath: data + "/PG_VERSION") {
            try await initialize(data: data, binaries: binaries, runner: runner)
        }
        try writeRuntimeSettings(data: data, endpoint: endpoint, runner: runner)
        if try await isRunning(data: data, binaries: binaries, runner: runner) { return endpoint }
        endpoint = endpoint.started()
        let outcome = try await runner.runAsServer(binaries.path("pg_ctl"), [
            "start", "-D", data, "-l", endpoint.logFile, "-w", "-t", "120", "-s",
        ])
        guard outcome.succeeded else {
            throw LocalPostgresError("PostgreSQL did not start (pg_ctl: \(outcome.output)).\n" + logTail(endpoint.logFile))
        }
        return endpoint
    }

    /// Stops the cluster if it runs: `fast` rolls back open transactions; `immediate` skips the checkpoint.
    public func stop(immediate: Bool = false) async throws {
        let binaries = try PostgresBinaries.find()
        let runner = try ProcessRunner.current()
        let data = dataDirectory.path
        guard try await isRunning(data: data, binaries: binaries, runner: runner) else { return }
        let outcome = try await runner.runAsServer(binaries.path("pg_ctl"), [
            "stop", "-D", data, "-m", immediate ? "immediate" : "fast", "-w", "-t", "120", "-s",
        ])
        guard outcome.succeeded else { throw LocalPostgresError("PostgreSQL did not stop: \(outcome.output)") }
    }

    /// Whether the cluster's server is running.
    public func isRunning() async throws -> Bool {
        try await isRunning(data: dataDirectory.path, binaries: PostgresBinaries.find(), runner: ProcessRunner.current())
    }

    /// Stops the cluster and deletes it, including a relocated folder under /var/tmp.
    public func destroy() async throws {
        try await stop(immediate: true)
        let resolved = directory.resolvingSymlinksInPath()
        try? FileManager.default.removeItem(atPath: shortSocketFolder(for: resolved))
        if resolved.path != directory.path { try? FileManager.default.removeItem(at: resolved) }
        if FileManager.default.fileExists(atPath: directory.path) || isSymlink(directory.path) {
            try FileManager.default.removeItem(at: directory)
        }
    }

    /// Starts a detached watchdog that stops the cluster immediately and deletes its folder once process
    /// `pid` has exited, however it exits. Test runs use it so that no server outlives them.
    public func removeWhenProcessExits(pid: Int32) throws {
        let binaries = try PostgresBinaries.find()
        let runner = try ProcessRunner.current()
        let resolved = directory.resolvingSymlinksInPath()
        let stop = runner.commandLineAsServer(binaries.path("pg_ctl"), ["stop", "-D", dataDirectory.path, "-m", "immediate", "-s"])
            .map(shellQuoted).joined(separator: " ")
        let folders = [resolved.path, directory.path, shortSocketFolder(for: resolved)].map(shellQuoted).joined(separator: " ")
        let script = """
            while kill -0 \(pid) 2>/dev/null; do sleep 1; done
            \(stop) >/dev/null 2>&1
            rm -rf \(folders)
            """
        let setsid = ["/usr/bin/setsid", "/bin/setsid"].first { FileManager.default.isExecutableFile(atPath: $0) }
        if let setsid {
            _ = try spawn(setsid, ["/bin/sh", "-c", script])
        } else {
            _ = try spawn("/bin/sh", ["-c", script])
        }
    }

    // MARK: Steps

    /// Creates the folder, owned by the server's user; relocates it when that user cannot reach it.
    private func prepareRoot(_ runner: ProcessRunner) async throws -> URL {
        let manager = FileManager.default
        if isSymlink(directory.path) {
            let target = directory.resolvingSymlinksInPath()
            try manager.createDirectory(at: target, withIntermediateDirectories: true)
            return target
        }
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        try runner.giveToServer(directory.path)
        _ = chmod(directory.path, 0o700)
        if await runner.serverCanWrite(directory.path) { return directory }

        // The server's user cannot traverse a parent folder (such as a 0700 home): relocate.
        let relocated = URL(fileURLWithPath: "/var/tmp/pdx-postgres-\(stableHash(directory.path))")
        try manager.createDirectory(at: relocated, withIntermediateDirectories: true)
        try runner.giveToServer(relocated.path)
        _ = chmod(relocated.path, 0o700)
        guard await runner.serverCanWrite(relocated.path) else {
            throw LocalPostgresError("""
                the \(runner.serverUser ?? "server") user can reach neither \(directory.path) nor \(relocated.path). \
                Move the checkout somewhere that user can traverse, or set DATABASE_URL.
                """)
        }
        if (try? manager.contentsOfDirectory(atPath: directory.path))?.isEmpty ?? false {
            try manager.removeItem(at: directory)
            try manager.createSymbolicLink(at: directory, withDestinationURL: relocated)
        }
        return relocated
    }

    private func endpoint(root: URL, runner: ProcessRunner) throws -> Endpoint {
        var socketDirectory = root.path
        // A Unix socket path has at most 107 bytes; fall back to a short folder under /tmp.
        if (socketDirectory + "/.s.PGSQL.\(port)").utf8.count > 100 {
            socketDirectory = shortSocketFolder(for: root)
            try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
            try runner.giveToServer(socketDirectory)
            _ = chmod(socketDirectory, 0o700)
        }
        return Endpoint(socketDirectory: socketDirectory, port: port, user: Self.superuser,
                        logFile: root.appendingPathComponent("postgres.log").path, startedNow: false)
    }

    private func initialize(data: String, binaries: PostgresBinaries, runner: ProcessRunner) async throws {
        var arguments = ["-D", data, "-U", Self.superuser, "--auth=trust", "--encoding=UTF8", "--no-instructions"]
        if profile == .test { arguments.append("--no-sync") }
        // Byte-order collation (fast, deterministic) with UTF-8 character classes, so that full-text and
        // trigram search treat Chinese characters as letters.
        var outcome = try await runner.runAsServer(binaries.path("initdb"), arguments + ["--lc-collate=C", "--lc-ctype=C.UTF-8"])
        if !outcome.succeeded && outcome.output.contains("locale") {
            try? FileManager.default.removeItem(atPath: data)
            outcome = try await runner.runAsServer(binaries.path("initdb"), arguments + ["--locale=C"])
        }
        guard outcome.succeeded else { throw LocalPostgresError("initdb failed: \(outcome.output)") }
        let conf = data + "/postgresql.conf"
        let include = "\n# Written by pdx: settings for this folder and profile.\ninclude_if_exists = 'pdx.conf'\n"
        guard let handle = FileHandle(forWritingAtPath: conf) else { throw LocalPostgresError("cannot open \(conf)") }
        handle.seekToEndOfFile()
        handle.write(Data(include.utf8))
        try handle.close()
    }

    /// Settings rewritten at every start, so the folder can move and the port can change.
    private func writeRuntimeSettings(data: String, endpoint: Endpoint, runner: ProcessRunner) throws {
        func quoted(_ value: String) -> String { "'" + value.replacingOccurrences(of: "'", with: "''") + "'" }
        var lines = [
            "listen_addresses = \(quoted(listensOnTCP ? "127.0.0.1" : ""))",
            "port = \(port)",
            "unix_socket_directories = \(quoted(endpoint.socketDirectory))",
            "log_min_messages = warning",
        ]
        switch profile {
        case .test:
            // The suites run in parallel, with pools, worker processes and an API server of their own.
            lines += ["max_connections = 1000", "fsync = off", "synchronous_commit = off", "full_page_writes = off", "shared_buffers = 128MB"]
        case .dev:
            lines += ["max_connections = 300", "shared_buffers = 256MB"]
        }
        let path = data + "/pdx.conf"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        try runner.giveToServer(path)
    }

    private func isRunning(data: String, binaries: PostgresBinaries, runner: ProcessRunner) async throws -> Bool {
        guard FileManager.default.fileExists(atPath: data + "/PG_VERSION") else { return false }
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data folder.
        return try await runner.runAsServer(binaries.path("pg_ctl"), ["status", "-D", data]).status == 0
    }

    private func logTail(_ path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no server log at \(path))" }
        return "Last lines of \(path):\n" + text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }
}

/// Where the socket goes when the cluster's own folder would make its path too long.
private func shortSocketFolder(for root: URL) -> String { "/tmp/pdx-\(stableHash(root.path))" }

private func isSymlink(_ path: String) -> Bool {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
}

private func shellQuoted(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// FNV-1a: a short, stable name for a path.
func stableHash(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return String(hash, radix: 16)
}
