/// One numbered SQL file of `sql/`, such as `0003_marketplace.sql`.
public struct Migration: Sendable, Hashable {
    /// The number the file name starts with; files apply in this order.
    public let version: Int
    /// The file name.
    public let name: String
    /// The file's exact text.
    public let sql: String

    /// Parses `NNNN_words.sql`; the number must be positive.
    public init(name: String, sql: String) throws(MigrationError) {
        let stem = name.hasSuffix(".sql") ? name.dropLast(4) : Substring(name)
        let digits = stem.prefix(while: \.isASCII).prefix(while: \.isNumber)
        guard name.hasSuffix(".sql"), !digits.isEmpty, let version = Int(digits), version > 0,
              stem.dropFirst(digits.count).first == "_", stem.count > digits.count + 1
        else { throw MigrationError.invalidFileName(name) }
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// The files of `sql/` that were embedded into this binary at build time, in order.
    public static func embedded() throws(MigrationError) -> [Migration] {
        try ordered(embeddedSQLFiles.map { file throws(MigrationError) in try Migration(name: file.name, sql: file.sql) })
    }

    /// Sorts by version and refuses two files with the same version.
    public static func ordered(_ migrations: [Migration]) throws(MigrationError) -> [Migration] {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw MigrationError.duplicateVersion(previous.version, previous.name, next.name)
        }
        return sorted
    }
}

/// Why migrations cannot run.
public enum MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidFileName(String)
    case duplicateVersion(Int, String, String)
    /// An applied file's text changed afterwards.
    case changedAfterApplying(name: String, appliedChecksum: String, currentChecksum: String)

    public var description: String {
        switch self {
        case .invalidFileName(let name):
            "migration file \(name) must be named NNNN_description.sql (a positive number, an underscore, a name)"
        case .duplicateVersion(let version, let first, let second):
            "migration files \(first) and \(second) share the number \(version); give each file its own number"
        case .changedAfterApplying(let name, let applied, let current):
            """
            migration \(name) changed after it was applied (applied sha256 \(applied.prefix(12))…, now \
            \(current.prefix(12))…). Applied migrations are immutable: restore the file and put the change \
            in a new, higher-numbered file.
            """
        }
    }
}
