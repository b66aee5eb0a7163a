import Crypto
public import Foundation
public import Market
import Postgres

/// An `Idempotency-Key` with the request it came with (method, path and body, hashed): a retry with the
/// same key and request gets the first response again; the same key with another request is refused.
public struct IdempotencyKey: Sendable, Equatable {
    public let party: UUID
    public let key: String
    let request: Data

    public init(party: UUID, key: String, method: String, path: String, body: Data) throws(MarketInputError) {
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw MarketInputError(field: "Idempotency-Key", rule: "must be 1 to 255 printable ASCII characters without spaces")
        }
        var hasher = SHA256()
        hasher.update(data: Data("\(method) \(path)\n".utf8))
        hasher.update(data: body)
        self.party = party
        self.key = key
        request = Data(hasher.finalize())
    }
}

/// The same `Idempotency-Key` was used with another request.
public struct IdempotencyKeyReused: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String { "this Idempotency-Key was used with another request" }
}

/// A request with the same `Idempotency-Key` is still running (longer than `MarketStore.idempotencyWait`).
public struct IdempotencyKeyInUse: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String { "a request with this Idempotency-Key is still running; retry later" }
}

/// A response as a request's action produced it, to send (and, with an idempotency key, to replay).
public struct StoredResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

extension MarketStore {
    /// What became of a request.
    public enum RequestOutcome: Sendable, Equatable {
        /// Its action ran now (and committed).
        case performed(StoredResponse)
        /// Its key was answered before: this is that answer.
        case replayed(StoredResponse)
    }

    /// Keys are kept this long; after it a key may be used again.
    public static let idempotencyRetention: TimeInterval = 86_400

    /// Runs a request's action in one transaction: every store call the action makes joins it, so the
    /// action with its audit events and jobs commits as a whole or not at all (and is run again from the
    /// start when it loses a deadlock). With an idempotency key, the response is recorded in that same
    /// transaction: a crash anywhere leaves both or neither, so a retry either replays the response or
    /// runs the action for the first time, at once. A retry that arrives while the first request still
    /// runs waits for it, then replays its response. A failed action records nothing: its key stays free.
    public func withRequestTransaction(idempotency key: IdempotencyKey?,
                                       _ action: @Sendable () async throws -> StoredResponse) async throws -> RequestOutcome {
        if let key, let answered = try await answered(key) { return .replayed(answered) }
        do {
            return try await committing { try await pool.withRetryingTransaction(isolation: .readCommitted) { connection in
                if let key {
                    // One request per key at a time; a request that committed meanwhile is seen after the lock.
                    // A retry waits for the first request up to `idempotencyWait`, then is told it still runs.
                    try await connection.execute("""
                        SELECT set_config('lock_timeout', waited.before, true)
                        FROM (SELECT current_setting('lock_timeout') AS before,
                                     set_config('lock_timeout', \(Self.lockTimeout(idempotencyWait)), true),
                                     pg_advisory_xact_lock(\(Self.idempotencyLockClass), hashtext(\(key.party.uuidString) || ' ' || \(key.key)))
                              ) AS waited
                        """)
                    if let answered = try await connection.answered(key) { return .replayed(answered) }
                }
                let response = try await Self.$requestTransaction.withValue(connection) { try await action() }
                if let key { try await connection.record(response, for: key) }
                return .performed(response)
            } }
        } catch let error as PostgresError where error.code?.rawValue == "55P03" && key != nil {
            throw IdempotencyKeyInUse()
        } catch let error as PostgresError {
            throw Self.translate(error)
        }
    }

    /// How long a request waits by default for another one with the same key to finish before it is answered
    /// `IdempotencyKeyInUse` (409); a store's `idempotencyWait`.
    public static let defaultIdempotencyWait: Duration = .seconds(10)

    /// The advisory lock class of idempotency keys (the two-integer lock space; the job queue's leader
    /// uses the one-bigint space).
    static let idempotencyLockClass: Int32 = 0x7064_7869

    /// `wait` as a `lock_timeout` setting, in whole milliseconds and at least one (zero would wait forever).
    static func lockTimeout(_ wait: Duration) -> String {
        let milliseconds = wait.components.seconds * 1_000 + wait.components.attoseconds / 1_000_000_000_000_000
        return "\(max(1, milliseconds))ms"
    }

    private func answered(_ key: IdempotencyKey) async throws -> StoredResponse? {
        try await pool.withConnection { connection in try await connection.answered(key) }
    }
}

extension PostgresConnection {
    /// The response recorded for a key within the retention, or nil; `IdempotencyKeyReused` when the key
    /// was used with another request. (A row without a response is a claim written by a binary of the
    /// previous version, during an upgrade: not an answer.)
    func answered(_ key: IdempotencyKey) async throws -> StoredResponse? {
        let rows = try await query("""
            SELECT request_sha256, status, headers::text, body FROM idempotency_keys
            WHERE party_id = \(key.party) AND key = \(key.key)
              AND created_at > now() - make_interval(secs => \(MarketStore.idempotencyRetention))
            """)
        guard let row = rows.first else { return nil }
        let (request, status, headers, body) = try row.decode(Data.self, Int16?.self, String?.self, Data?.self)
        guard request == key.request else { throw IdempotencyKeyReused() }
        guard let status, let headers else { return nil }
        return StoredResponse(status: Int(status), headers: try JSONDecoder().decode([String: String].self, from: Data(headers.utf8)),
                              body: body ?? Data())
    }

    /// Records the response of a key's request (replacing a use of the key older than the retention).
    func record(_ response: StoredResponse, for key: IdempotencyKey) async throws {
        let headers = String(decoding: try JSONEncoder().encode(response.headers), as: UTF8.self)
        let recorded = try await execute("""
            INSERT INTO idempotency_keys (party_id, key, request_sha256, status, headers, body)
            VALUES (\(key.party), \(key.key), \(key.request), \(Int16(response.status)), \(headers)::jsonb, \(response.body))
            ON CONFLICT (party_id, key) DO UPDATE
            SET request_sha256 = EXCLUDED.request_sha256, status = EXCLUDED.status, headers = EXCLUDED.headers, body = EXCLUDED.body,
                created_at = now()
            WHERE idempotency_keys.status IS NULL
               OR idempotency_keys.created_at <= now() - make_interval(secs => \(MarketStore.idempotencyRetention))
            """)
        // The caller holds the key's lock and found no live answer: anything else is a bug, not a retry.
        guard recorded == 1 else { throw PostgresError(kind: .invalidUsage, message: "idempotency key \(key.key) was answered meanwhile") }
        // Keys past their retention go, a few with each new one (the created_at index finds them; rows
        // another request is deleting are skipped, not waited for).
        try await execute("""
            DELETE FROM idempotency_keys WHERE (party_id, key) IN (
                SELECT party_id, key FROM idempotency_keys
                WHERE created_at < now() - make_interval(secs => \(MarketStore.idempotencyRetention))
                ORDER BY created_at LIMIT 10 FOR UPDATE SKIP LOCKED)
            """)
    }
}
