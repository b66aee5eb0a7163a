/// A column could not be decoded into the requested Swift type.
public struct PostgresDecodingError: Error, Sendable, CustomStringConvertible {
    /// The column's name as the server reported it.
    public var column: String
    /// The column's PostgreSQL type.
    public var columnType: PostgresType
    /// The Swift type that was requested.
    public var swiftType: String
    /// Why it failed.
    public var reason: String

    public init(column: String, columnType: PostgresType, swiftType: String, reason: String) {
        self.column = column
        self.columnType = columnType
        self.swiftType = swiftType
        self.reason = reason
    }

    public var description: String {
        "column \"\(column)\" of type \(columnType) cannot be decoded as \(swiftType): \(reason)"
    }
}
