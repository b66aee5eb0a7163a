import Crypto
public import Foundation
import Market
import Postgres

extension MarketStore {
    /// What to do with a request that carries an `Idempotency-Key`.
    public enum IdempotentRequest: Sendable, Equatable {
        /// First time (or a takeover of an attempt that died): run it, then `finishIdempotent`.
        case proceed
        /// Seen and answered: send this again.
        case replay(status: Int, headers: [String: String], body: Data)
        /// The first request with this key is still running.
        case inProgress
        /// The key was used with another request body.
        case mismatch
    }

    /// Claims `key` for this party's request (method, path and body, hashed), or says what happened to it.
    /// Keys older than 24 hours are forgotten.
    public func beginIdempotent(party partyID: UUID, key: String, method: String, path: String, body: Data) async throws -> IdempotentRequest {
        guard (1...255).contains(key.utf8.count), key.allSatisfy({ $0.isASCII && !$0.isNewline }) else {
            throw MarketInputError(field: "Idempotency-Key", rule: "must be 1 to 255 printable ASCII characters")
        }
        var hasher = SHA256()
        hasher.update(data: Data("\(method) \(path)\n".utf8))
        hasher.update(data: body)
        let digest = Data(hasher.finalize())
        return try await transaction { connection in
            try await connection.execute("""
                DELETE FROM idempotency_keys WHERE party_id = \(partyID) AND key = \(key) AND created_at < now() - interval '24 hours'
                """)
            let claimed = try await connection.query("""
                INSERT INTO idempotency_keys (party_id, key, request_sha256) VALUES (\(partyID), \(key), \(digest))
                ON CONFLICT DO NOTHING RETURNING 1
                """)
            if !claimed.isEmpty { return .proceed }
            let rows = try await connection.query("""
                SELECT request_sha256, status, headers::text, body, created_at < now() - interval '1 minute'
                FROM idempotency_keys WHERE party_id = \(partyID) AND key = \(key) FOR UPDATE
                """)
            guard let row = rows.first else { return .inProgress }
            let (stored, status, headers, body, stale) = try row.decode(Data.self, Int16?.self, String?.self, Data?.self, Bool.self)
            guard stored == digest else { return .mismatch }
            if let status {
                let decoded = try headers.map { try JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
                return .replay(status: Int(status), headers: decoded, body: body ?? Data())
            }
            guard stale else { return .inProgress }
            try await connection.execute("UPDATE idempotency_keys SET created_at = now() WHERE party_id = \(partyID) AND key = \(key)")
            return .proceed
        }
    }

    /// Keeps the response to replay.
    public func finishIdempotent(party partyID: UUID, key: String, status: Int, headers: [String: String], body: Data) async throws {
        try await pool.execute("""
            UPDATE idempotency_keys SET status = \(Int16(status)), headers = \(String(decoding: try JSONEncoder().encode(headers), as: UTF8.self))::jsonb,
                body = \(body)
            WHERE party_id = \(partyID) AND key = \(key)
            """)
    }

    /// Forgets a claim whose request failed, so that a retry runs it again.
    public func abandonIdempotent(party partyID: UUID, key: String) async throws {
        try await pool.execute("DELETE FROM idempotency_keys WHERE party_id = \(partyID) AND key = \(key) AND status IS NULL")
    }
}
