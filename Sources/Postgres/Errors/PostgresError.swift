/// An error from PostgreSQL or from talking to it.
///
/// `description` is safe to show an end user: the kind, the SQLSTATE and the server's primary message,
/// never the SQL text, the detail (which may quote stored values) or internal context.
/// `debugDescription` has everything, for logs.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, broadly.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The server refused a command; `code` holds the SQLSTATE.
        public static let server = Kind(name: "database error")
        /// A connection could not be established.
        public static let connectionFailed = Kind(name: "could not connect")
        /// Establishing a connection took longer than the configured timeout.
        public static let connectTimeout = Kind(name: "connection timed out")
        /// An established connection broke (server gone, backend terminated, network error).
        public static let connectionClosed = Kind(name: "connection lost")
        /// The pool has been shut down.
        public static let poolClosed = Kind(name: "connection pool closed")
        /// No connection became free within the pool's acquire timeout.
        public static let poolTimeout = Kind(name: "timed out waiting for a database connection")
        /// A value could not be encoded as a parameter.
        public static let encoding = Kind(name: "could not encode a parameter")
        /// The API was used in a way libpq or PostgreSQL does not allow.
        public static let invalidUsage = Kind(name: "invalid use of the database client")
        /// The server answered something this client did not expect.
        public static let protocolViolation = Kind(name: "unexpected answer from the server")
        public var description: String { name }
    }

    public var kind: Kind
    /// The SQLSTATE the server reported (server errors only).
    public var code: SQLState?
    /// The primary message: the server's own text for server and connection errors.
    public var message: String
    public var severity: String?
    public var detail: String?
    public var hint: String?
    public var position: Int?
    public var context: String?
    public var schema: String?
    public var table: String?
    public var column: String?
    public var dataType: String?
    public var constraint: String?
    /// The server routine that raised the error (`PG_DIAG_SOURCE_FUNCTION`): stable across languages.
    public var routine: String?
    /// The SQL text of the failing command (debug output only).
    public var query: String?
    /// In a pipeline, the zero-based index of the statement that failed.
    public var pipelineIndex: Int?

    public init(kind: Kind, code: SQLState? = nil, message: String, query: String? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.query = query
    }

    public var description: String {
        var text = "\(kind)"
        if let code { text += " \(code.rawValue)" }
        if let pipelineIndex { text += " in pipeline statement \(pipelineIndex)" }
        return text + ": " + message
    }

    public var debugDescription: String {
        var lines = [description]
        func add(_ label: String, _ value: String?) { if let value, !value.isEmpty { lines.append("  \(label): \(value)") } }
        add("severity", severity)
        add("detail", detail)
        add("hint", hint)
        add("position", position.map(String.init))
        add("context", context)
        add("schema", schema)
        add("table", table)
        add("column", column)
        add("data type", dataType)
        add("constraint", constraint)
        add("routine", routine)
        add("query", query)
        return lines.joined(separator: "\n")
    }

    /// True for errors after which retrying the whole transaction may succeed (40001, 40P01).
    public var isRetryableTransactionFailure: Bool {
        code == .serializationFailure || code == .deadlockDetected
    }

    /// True when the connection that produced this error can no longer be used.
    public var isConnectionFailure: Bool {
        kind == .connectionClosed || kind == .connectionFailed || kind == .connectTimeout
    }
}

/// A five-character SQLSTATE code, with names for the ones this project reacts to.
public struct SQLState: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    /// The two-character class ("23" for integrity constraint violations).
    public var errorClass: Substring { rawValue.prefix(2) }

    public static let uniqueViolation: SQLState = "23505"
    public static let foreignKeyViolation: SQLState = "23503"
    public static let notNullViolation: SQLState = "23502"
    public static let checkViolation: SQLState = "23514"
    public static let exclusionViolation: SQLState = "23P01"
    public static let serializationFailure: SQLState = "40001"
    public static let deadlockDetected: SQLState = "40P01"
    public static let queryCanceled: SQLState = "57014"
    public static let adminShutdown: SQLState = "57P01"
    public static let divisionByZero: SQLState = "22012"
    public static let invalidTextRepresentation: SQLState = "22P02"
    public static let undefinedTable: SQLState = "42P01"
    public static let undefinedColumn: SQLState = "42703"
    public static let syntaxError: SQLState = "42601"
    public static let invalidSQLStatementName: SQLState = "26000"
    public static let featureNotSupported: SQLState = "0A000"
    public static let lockNotAvailable: SQLState = "55P03"
    public static let insufficientPrivilege: SQLState = "42501"
    public static let raiseException: SQLState = "P0001"
}
