import Crypto
public import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
public import MarketStore

/// Signing and delivering webhook events.
///
/// A delivery is a `POST` of the event as JSON with the headers
/// - `PDX-Event-Id`: the event's id, the same on every retry (drop a redelivery you have seen);
/// - `PDX-Event-Type`: `match.proposed`, `match.accepted`, `order.placed`, ...;
/// - `PDX-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the party's secret>`.
///
/// A receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares it in constant
/// time, and refuses timestamps more than five minutes away from its clock (replays). Any answer other
/// than 2xx, or none within ten seconds, is retried through the job queue with backoff.
public enum Webhooks {
    public static let signatureHeader = "PDX-Signature"
    public static let tolerance: TimeInterval = 300

    /// The `PDX-Signature` value for a body sent at `timestamp`.
    public static func signature(body: Data, secret: String, timestamp: Int) -> String {
        var signed = Data("\(timestamp).".utf8)
        signed.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether a `PDX-Signature` header is valid for the body and secret, and recent enough.
    public static func verify(signature header: String, body: Data, secret: String, now: Date = Date()) -> Bool {
        var timestamp: Int?, given: [Data] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int(pair[1]) }
            if pair[0] == "v1", let bytes = hexBytes(pair[1]) { given.append(bytes) }
        }
        guard let timestamp, abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance else { return false }
        var signed = Data("\(timestamp).".utf8)
        signed.append(body)
        let key = SymmetricKey(data: Data(secret.utf8))
        return given.contains { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: signed, using: key) }
    }

    static func hexBytes(_ hex: String) -> Data? {
        guard hex.count % 2 == 0 else { return nil }
        var data = Data(capacity: hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            data.append(byte)
            index = next
        }
        return data
    }

    /// The JSON body of an event: snake_case keys, ISO 8601 times, sorted keys.
    public static func body(_ event: WebhookEvent) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(event)
    }

    /// A delivery the receiver did not take (the queue retries it).
    public struct DeliveryFailed: Error, CustomStringConvertible {
        public var url: String
        public var status: Int?
        public var reason: String

        public var description: String {
            "webhook \(url) " + (status.map { "answered HTTP \($0)" } ?? "failed: \(reason)")
        }
    }

    /// Posts the event, signed, and returns the HTTP status (2xx); throws `DeliveryFailed` otherwise.
    /// With `address`, the connection goes to that address (the one the webhook policy checked) while the
    /// request and its TLS certificate are for the URL's host, so a name that resolves elsewhere a moment
    /// later cannot redirect the delivery; redirects are not followed either (a 3xx is a failed delivery).
    public static func deliver(_ event: WebhookEvent, to webhook: Webhook, address: String? = nil, now: Date = Date()) async throws -> Int {
        guard let host = URL(string: webhook.url)?.host else { throw DeliveryFailed(url: webhook.url, status: nil, reason: "not a URL") }
        let body = try body(event)
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(10), read: .seconds(10)))
        if let address { configuration.dnsOverride = [host: address] }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        var request = HTTPClientRequest(url: webhook.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "pdx-webhooks/1")
        request.headers.add(name: "PDX-Event-Id", value: event.id)
        request.headers.add(name: "PDX-Event-Type", value: event.type)
        request.headers.add(name: signatureHeader, value: signature(body: body, secret: webhook.secret, timestamp: Int(now.timeIntervalSince1970)))
        request.body = .bytes(body)
        let status: Int
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            status = Int(response.status.code)
            for try await _ in response.body {}  // read to the end (and discard) so that the connection closes cleanly
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw DeliveryFailed(url: webhook.url, status: nil, reason: "\(error)")
        }
        guard (200..<300).contains(status) else { throw DeliveryFailed(url: webhook.url, status: status, reason: "") }
        return status
    }
}
