public import Crypto
public import Foundation
import Synchronization

/// What an entitlement token says (a JWT's claims, ES256-signed by pdx): who may use which product, for
/// which scenario and purpose, until when. An operator's gateway checks it against the keys pdx publishes
/// at `/.well-known/jwks.json`, without calling pdx: `aud` is the seller, so a gateway passes its own
/// party id as the audience.
public struct EntitlementClaims: Sendable, Codable, Equatable {
    /// Always `pdx`.
    public var iss: String
    /// The buyer.
    public var sub: String
    /// The seller (the operator, or a re-developer) whose gateway serves it.
    public var aud: String
    /// The entitlement.
    public var ent: String
    public var prd: String
    /// The product version bought.
    public var ver: Int
    /// The scenario and purpose the buyer declared.
    public var scn: String?
    public var pur: String
    public var iat: Int64
    public var exp: Int64
    /// The token's own id.
    public var jti: String

    public init(buyer: UUID, seller: UUID, entitlement: UUID, product: UUID, version: Int, scenario: String?, purpose: String,
                issuedAt: Date, expiresAt: Date, id: UUID = UUID()) {
        iss = EntitlementToken.issuer
        sub = buyer.uuidString.lowercased()
        aud = seller.uuidString.lowercased()
        ent = entitlement.uuidString.lowercased()
        prd = product.uuidString.lowercased()
        ver = version
        scn = scenario
        pur = purpose
        iat = Int64(issuedAt.timeIntervalSince1970.rounded(.down))
        exp = Int64(expiresAt.timeIntervalSince1970.rounded(.down))
        jti = id.uuidString.lowercased()
    }

    public var expiresAt: Date { Date(timeIntervalSince1970: TimeInterval(exp)) }
    public var entitlementID: UUID? { UUID(uuidString: ent) }
}

/// A public key as JWKS publishes it (RFC 7517, an EC P-256 key).
public struct JWK: Sendable, Codable, Equatable {
    public var kty = "EC"
    public var crv = "P-256"
    public var x: String
    public var y: String
    public var kid: String
    public var use = "sig"
    public var alg = "ES256"

    public init(kid: String, publicKey: P256.Signing.PublicKey) {
        let raw = publicKey.rawRepresentation  // x || y, 32 bytes each
        self.kid = kid
        x = Base64URL.encode(raw.prefix(32))
        y = Base64URL.encode(raw.suffix(32))
    }

    public func publicKey() throws(EntitlementToken.Refusal) -> P256.Signing.PublicKey {
        guard kty == "EC", crv == "P-256", let x = Base64URL.decode(x), let y = Base64URL.decode(y), x.count == 32, y.count == 32,
              let key = try? P256.Signing.PublicKey(rawRepresentation: x + y) else { throw .unknownKey }
        return key
    }
}

/// Entitlement tokens: compact JWS (RFC 7515) with ES256, signed and verified here.
public enum EntitlementToken {
    public static let issuer = "pdx"
    /// The longest a token lives: a retired key stays published this long after it stopped signing.
    public static let maximumLifetime: TimeInterval = 3600
    public static let defaultLifetime: TimeInterval = 900

    /// Why a token is not accepted, as `POST /v1/entitlements/verify` names it.
    public enum Refusal: String, Error, Sendable {
        case malformed = "malformed_token"
        case unknownKey = "unknown_key"
        case badSignature = "bad_signature"
        case expired = "token_expired"
    }

    /// Signs `claims` with `key`, naming it `kid` in the header.
    public static func sign(_ claims: EntitlementClaims, kid: String, key: P256.Signing.PrivateKey) throws -> String {
        let header = #"{"alg":"ES256","kid":"\#(kid)","typ":"JWT"}"#
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let input = Base64URL.encode(Data(header.utf8)) + "." + Base64URL.encode(try encoder.encode(claims))
        let signature = try key.signature(for: Data(input.utf8))
        return input + "." + Base64URL.encode(signature.rawRepresentation)
    }
}

/// Checks tokens against a set of public keys, offline. A token already verified is remembered (by its
/// exact text) until it expires, so a gateway that sees the same token on every call of a client pays
/// for the signature once; `capacity` bounds the memory (when full, expired entries go, then everything).
public final class TokenVerifier: Sendable {
    /// A public key is immutable once made, and verifying with it from several threads at once is safe
    /// (BoringSSL's EC keys are read-only in verification); Crypto does not mark it Sendable.
    private struct Key: @unchecked Sendable { let key: P256.Signing.PublicKey }
    private let keys: [String: Key]
    private let capacity: Int
    private let verified = Mutex<[String: EntitlementClaims]>([:])

    public init(keys: [JWK], capacity: Int = 100_000) {
        var found: [String: Key] = [:]
        for jwk in keys { if let key = try? jwk.publicKey() { found[jwk.kid] = Key(key: key) } }
        self.keys = found
        self.capacity = capacity
    }

    /// The keys of a JWKS document (`{"keys": [...]}`).
    public convenience init(jwks: Data, capacity: Int = 100_000) throws {
        struct Set: Decodable { var keys: [JWK] }
        self.init(keys: try JSONDecoder().decode(Set.self, from: jwks).keys, capacity: capacity)
    }

    public var keyIDs: [String] { keys.keys.sorted() }

    /// The claims of a valid token: signed by one of the keys, ES256, issued by pdx, not expired at `now`.
    public func verify(_ token: String, now: Date = Date()) throws(EntitlementToken.Refusal) -> EntitlementClaims {
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        if let claims = verified.withLock({ $0[token] }) {
            guard claims.exp > seconds else { throw .expired }
            return claims
        }
        let claims = try verifySignature(token)
        guard claims.exp > seconds else { throw .expired }
        verified.withLock { cache in
            if cache.count >= capacity {
                cache = cache.filter { $0.value.exp > seconds }
                if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            }
            cache[token] = claims
        }
        return claims
    }

    /// The signature check itself, every time (what `verify` does for a token it has not seen).
    public func verifySignature(_ token: String) throws(EntitlementToken.Refusal) -> EntitlementClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Base64URL.decode(parts[0]), let claimsData = Base64URL.decode(parts[1]),
              let signatureData = Base64URL.decode(parts[2]) else { throw .malformed }
        struct Header: Decodable { var alg: String; var kid: String? }
        guard let header = try? JSONDecoder().decode(Header.self, from: headerData), header.alg == "ES256" else { throw .malformed }
        guard let kid = header.kid, let key = keys[kid] else { throw .unknownKey }
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureData),
              key.key.isValidSignature(signature, for: Data(token.utf8[..<token.utf8.index(parts[2].startIndex, offsetBy: -1)])) else {
            throw .badSignature
        }
        guard let claims = try? JSONDecoder().decode(EntitlementClaims.self, from: claimsData), claims.iss == EntitlementToken.issuer else {
            throw .malformed
        }
        return claims
    }
}

/// Base64 with the URL alphabet and no padding (RFC 4648 §5), as JOSE writes it.
public enum Base64URL {
    public static func encode<D: DataProtocol>(_ data: D) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode<S: StringProtocol>(_ text: S) -> Data? {
        guard text.utf8.allSatisfy({ $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let remainder = base64.utf8.count % 4
        guard remainder != 1 else { return nil }
        if remainder > 0 { base64 += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: base64)
    }
}
