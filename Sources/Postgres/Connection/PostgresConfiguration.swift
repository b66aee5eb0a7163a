/// How to reach PostgreSQL and how a connection behaves.
public struct PostgresConfiguration: Sendable {
    /// A libpq connection URI (`postgresql://user@host/db`) or keyword/value string (`host=... dbname=...`).
    /// Anything it leaves out comes from libpq's environment variables (`PGHOST`, `PGUSER`, ...).
    public var connectionString: String
    /// When set, replaces the database named in `connectionString`.
    public var database: String?
    /// How long establishing a connection may take before it fails.
    public var connectTimeout: Duration
    /// Reported to the server (visible in `pg_stat_activity`); the connection string may override it.
    public var applicationName: String
    /// How many prepared statements each connection keeps (0 prepares nothing).
    public var statementCacheCapacity: Int
    /// The session's time zone, set on connect: with UTC, a `Date` written into a `timestamp` column and
    /// read back is the same instant. nil keeps the server's setting.
    public var sessionTimeZone: String?
    /// Other settings made with `SET` on connect, such as `["synchronous_commit": "off"]`.
    ///
    /// `jit` is off by default: PostgreSQL compiles any plan whose estimated cost passes `jit_above_cost`
    /// (100,000), and a short statement over a large table (a product's match against every live demand,
    /// which reads a few hundred rows through an index) passes it on estimate alone; compiling took 30-100 ms
    /// for a statement that runs in 6. Set `sessionSettings["jit"] = "on"` for long analytical sessions.
    public var sessionSettings: [String: String] = ["jit": "off"]

    public init(
        connectionString: String,
        database: String? = nil,
        connectTimeout: Duration = .seconds(10),
        applicationName: String = "pdx",
        statementCacheCapacity: Int = 512,
        sessionTimeZone: String? = "UTC"
    ) {
        self.connectionString = connectionString
        self.database = database
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
        self.statementCacheCapacity = statementCacheCapacity
        self.sessionTimeZone = sessionTimeZone
    }
}

/// A message delivered by `NOTIFY` / `pg_notify`.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    /// The server process that sent it.
    public var backendPID: Int32

    public init(channel: String, payload: String, backendPID: Int32) {
        self.channel = channel
        self.payload = payload
        self.backendPID = backendPID
    }
}

/// The isolation level of a transaction.
public enum PostgresIsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}
