#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Logging
public import Postgres

/// Applies migrations to a database: each pending file in its own transaction, under an advisory lock
/// (so concurrent migrators apply each file once), recording each file's SHA-256; a file that changed
/// after it was applied is refused.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    let logger: Logger

    /// The advisory lock all pdx migrators take ("pdx.migrations").
    static let lockKey: Int64 = 0x7064_782E_6D69_67

    public init(migrations: [Migration], logger: Logger = Logger(label: "pdx.migrations")) throws(MigrationError) {
        self.migrations = try Migration.ordered(migrations)
        self.logger = logger
    }

    /// A migrator for the files embedded from `sql/`.
    public static func embedded(logger: Logger = Logger(label: "pdx.migrations")) throws(MigrationError) -> Migrator {
        try Migrator(migrations: Migration.embedded(), logger: logger)
    }

    /// Where one migration stands in a database.
    public struct Status: Sendable, Hashable {
        public enum State: Sendable, Hashable {
            case applied(at: Date, milliseconds: Int)
            case pending
            /// Applied, but the file changed since.
            case changed
            /// Recorded in the database, but not known to this binary (a newer binary applied it).
            case unknown
        }

        public var version: Int
        public var name: String
        public var state: State
    }

    /// Applies every pending migration and returns those it applied (empty when up to date).
    @discardableResult
    /// - Parameter progress: called before each pending migration with it, its position among the pending
    ///   ones (from 1) and their count.
    public func migrate(on connection: PostgresConnection,
                        progress: @Sendable (_ migration: Migration, _ position: Int, _ pending: Int) -> Void = { _, _, _ in }) async throws -> [Migration] {
        try await withLock(on: connection) { connection in
            let applied = try await verifiedAppliedRecords(on: connection)
            var done: [Migration] = []
            let pending = migrations.filter { applied[$0.version] == nil }
            for migration in pending {
                progress(migration, done.count + 1, pending.count)
                let started = ContinuousClock.now
                try await connection.transaction { connection in
                    try await connection.executeScript(unsafeSQL: migration.sql)
                    let elapsed = ContinuousClock.now - started
                    let milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                    try await connection.execute("""
                        INSERT INTO pdx_schema_migrations (version, name, checksum, execution_ms)
                        VALUES (\(migration.version), \(migration.name),
                                encode(sha256(convert_to(\(migration.sql), 'UTF8')), 'hex'), \(milliseconds))
                        """)
                }
                logger.info("applied migration", metadata: ["migration.name": "\(migration.name)"])
                done.append(migration)
            }
            return done
        }
    }

    /// Every migration known to this binary or recorded in the database, in version order.
    public func status(on connection: PostgresConnection) async throws -> [Status] {
        try await withLock(on: connection) { connection in
            let records = try await appliedRecords(on: connection)
            let checksums = try await currentChecksums(on: connection)
            var statuses: [Status] = []
            for migration in migrations {
                let state: Status.State
                if let record = records[migration.version] {
                    state = record.checksum == checksums[migration.version] && record.name == migration.name
                        ? .applied(at: record.appliedAt, milliseconds: record.milliseconds) : .changed
                } else {
                    state = .pending
                }
                statuses.append(Status(version: migration.version, name: migration.name, state: state))
            }
            let known = Set(migrations.map(\.version))
            for record in records.values where !known.contains(record.version) {
                statuses.append(Status(version: record.version, name: record.name, state: .unknown))
            }
            return statuses.sorted { $0.version < $1.version }
        }
    }

    /// True when every known migration is applied unchanged.
    public func isCurrent(on connection: PostgresConnection) async throws -> Bool {
        try await status(on: connection).allSatisfy {
            if case .applied = $0.state { return true }
            return $0.state == .unknown
        }
    }

    // MARK: Steps

    private struct Record: Sendable {
        var version: Int
        var name: String
        var checksum: String
        var appliedAt: Date
        var milliseconds: Int
    }

    /// Runs `body` holding the migrators' session-level advisory lock, with the bookkeeping table present.
    private func withLock<R: Sendable>(
        on connection: PostgresConnection,
        _ body: @Sendable (isolated PostgresConnection) async throws -> R
    ) async throws -> R {
        try await connection.execute("SELECT pg_advisory_lock(\(Self.lockKey))")
        do {
            try await connection.execute("""
                CREATE TABLE IF NOT EXISTS pdx_schema_migrations (
                    version      integer PRIMARY KEY,
                    name         text NOT NULL,
                    checksum     text NOT NULL,
                    applied_at   timestamptz NOT NULL DEFAULT now(),
                    execution_ms integer NOT NULL
                )
                """)
            let result = try await body(connection)
            try await connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))")
            return result
        } catch {
            // The lock is the session's: give it back unless the session itself is gone.
            if await connection.isReusable { _ = try? await connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))") }
            throw error
        }
    }

    private func appliedRecords(on connection: isolated PostgresConnection) async throws -> [Int: Record] {
        let rows = try await connection.query(
            "SELECT version, name, checksum, applied_at, execution_ms FROM pdx_schema_migrations ORDER BY version")
        var records: [Int: Record] = [:]
        for row in rows {
            let (version, name, checksum, appliedAt, milliseconds) = try row.decode(Int.self, String.self, String.self, Date.self, Int.self)
            records[version] = Record(version: version, name: name, checksum: checksum, appliedAt: appliedAt, milliseconds: milliseconds)
        }
        return records
    }

    /// SHA-256 of each known file, computed by the server exactly as it was when the file was recorded.
    private func currentChecksums(on connection: isolated PostgresConnection) async throws -> [Int: String] {
        guard !migrations.isEmpty else { return [:] }
        let rows = try await connection.query("""
            SELECT encode(sha256(convert_to(text, 'UTF8')), 'hex') FROM unnest(\(migrations.map(\.sql))) WITH ORDINALITY AS f(text, n) ORDER BY n
            """)
        let checksums = try rows.decode(String.self)
        return Dictionary(uniqueKeysWithValues: zip(migrations.map(\.version), checksums))
    }

    /// The applied records, after refusing any applied file that changed since.
    private func verifiedAppliedRecords(on connection: isolated PostgresConnection) async throws -> [Int: Record] {
        let records = try await appliedRecords(on: connection)
        guard !records.isEmpty else { return records }
        let checksums = try await currentChecksums(on: connection)
        for migration in migrations {
            guard let record = records[migration.version], let current = checksums[migration.version] else { continue }
            if record.checksum != current || record.name != migration.name {
                throw MigrationError.changedAfterApplying(name: migration.name, appliedChecksum: record.checksum, currentChecksum: current)
            }
        }
        let unknown = records.keys.filter { version in !migrations.contains { $0.version == version } }
        if !unknown.isEmpty {
            logger.warning("database has migrations this binary does not know; it was migrated by a newer version",
                           metadata: ["migration.versions": "\(unknown.sorted())"])
        }
        return records
    }
}
