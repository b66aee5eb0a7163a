/// Why a private PostgreSQL cluster could not be prepared, started or stopped, and what to do about it.
public struct LocalPostgresError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
