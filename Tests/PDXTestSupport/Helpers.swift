public import Foundation
public import Postgres

/// Connects, runs `body` with the connection, and closes it.
@discardableResult
public func withConnection<R: Sendable>(
    _ configuration: PostgresConfiguration,
    _ body: (PostgresConnection) async throws -> R
) async throws -> R {
    let connection = try await PostgresConnection.connect(configuration: configuration)
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw error
    }
}

/// A test database's own connection: the shorthand most tests need.
@discardableResult
public func withTestConnection<R: Sendable>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
    try await TestDatabase.withDatabase { configuration in
        try await withConnection(configuration, body)
    }
}

public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public init(what: String) { self.what = what }
    public var description: String { "timed out: \(what)" }
}

/// Runs `body`, failing with `TimedOut` if it takes longer than `limit` (the body is cancelled).
public func withTimeout<R: Sendable>(
    _ limit: Duration, _ what: String = "operation",
    _ body: @escaping @Sendable () async throws -> R
) async throws -> R {
    try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// Elapsed time of `body`.
public func measure<R>(_ body: () async throws -> R) async rethrows -> (R, Duration) {
    let start = ContinuousClock.now
    let value = try await body()
    return (value, ContinuousClock.now - start)
}

/// A decoder for the snake_case JSON pdxctl prints (as the API does) into the Swift types it came from:
/// `demand_id` → `demandID` (Swift spells the initialism in capitals), `first_match_seconds_p50` →
/// `firstMatchSecondsP50`.
public func snakeCaseDecoder() -> JSONDecoder {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init(intValue: Int) { stringValue = "\(intValue)"; self.intValue = intValue }
    }
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    decoder.keyDecodingStrategy = .custom { path in
        let last = path.last?.stringValue ?? ""
        let words = last.split(separator: "_").map(String.init)
        guard let first = words.first, words.count > 1 else { return Key(stringValue: last) }
        return Key(stringValue: first + words.dropFirst().map { $0 == "id" ? "ID" : $0.prefix(1).uppercased() + $0.dropFirst() }.joined())
    }
    return decoder
}
