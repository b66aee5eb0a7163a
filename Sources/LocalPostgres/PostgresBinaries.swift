public import Foundation

/// The folder holding PostgreSQL's server programs (initdb, pg_ctl, postgres).
public struct PostgresBinaries: Sendable {
    public let directory: URL

    static let required = ["initdb", "pg_ctl", "postgres"]

    /// The programs for this process's PATH, looked up once.
    public static func find() throws -> PostgresBinaries {
        try cached.get()
    }

    private static let cached = Result { try find(path: ProcessInfo.processInfo.environment["PATH"] ?? "") }

    /// Looks on PATH, then in `pg_config --bindir`, then in `/usr/lib/postgresql/*/bin` (newest first).
    public static func find(
        path: String,
        installRoot: String = "/usr/lib/postgresql"
    ) throws -> PostgresBinaries {
        var candidates: [URL] = []
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let initdb = URL(fileURLWithPath: String(folder)).appendingPathComponent("initdb")
            if FileManager.default.isExecutableFile(atPath: initdb.path) {
                // Follow symlinks (such as /usr/local/bin/initdb) to the real folder, which holds the rest.
                candidates.append(initdb.resolvingSymlinksInPath().deletingLastPathComponent())
            }
        }
        if let bindir = pgConfigBindir(path: path) { candidates.append(URL(fileURLWithPath: bindir)) }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: installRoot)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            candidates.append(URL(fileURLWithPath: "\(installRoot)/\(version)/bin"))
        }
        for candidate in candidates where required.allSatisfy({
            FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent($0).path)
        }) {
            return PostgresBinaries(directory: candidate)
        }
        throw LocalPostgresError("""
            PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found on PATH, in `pg_config --bindir` \
            or in /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `apt-get install postgresql`; \
            macOS: `brew install postgresql`), or set DATABASE_URL to use a server you already run.
            """)
    }

    public func path(_ program: String) -> String { directory.appendingPathComponent(program).path }

    /// A program beside the server programs (such as pgbench), if installed.
    public func optionalPath(_ program: String) -> String? {
        let candidate = path(program)
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    private static func pgConfigBindir(path: String) -> String? {
        guard let pgConfig = path.split(separator: ":").map({ String($0) + "/pg_config" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: pgConfig)
        process.arguments = ["--bindir"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
