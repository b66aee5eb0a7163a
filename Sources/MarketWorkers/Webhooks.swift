import Crypto
public import Foundation
#if canImport(FoundationNetworking)
public import FoundationNetworking
#endif
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

    /// The session deliveries use: it does not follow redirects (a receiver's 3xx is a failed delivery),
    /// since a redirect could lead anywhere the URL's check did not look.
    public static let session = URLSession(configuration: .ephemeral, delegate: RefuseRedirects(), delegateQueue: nil)

    final class RefuseRedirects: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }

    /// Posts the event, signed; returns the HTTP status (2xx), throws `DeliveryFailed` otherwise.
    public static func deliver(_ event: WebhookEvent, to webhook: Webhook, session: URLSession = Webhooks.session,
                               now: Date = Date()) async throws -> Int {
        guard let url = URL(string: webhook.url) else { throw DeliveryFailed(url: webhook.url, status: nil, reason: "not a URL") }
        let body = try body(event)
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 10)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("pdx-webhooks/1", forHTTPHeaderField: "User-Agent")
        request.setValue(event.id, forHTTPHeaderField: "PDX-Event-Id")
        request.setValue(event.type, forHTTPHeaderField: "PDX-Event-Type")
        request.setValue(signature(body: body, secret: webhook.secret, timestamp: Int(now.timeIntervalSince1970)),
                         forHTTPHeaderField: signatureHeader)
        let response: URLResponse
        do {
            (_, response) = try await session.data(for: request)
        } catch {
            throw DeliveryFailed(url: webhook.url, status: nil, reason: "\(error)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else { throw DeliveryFailed(url: webhook.url, status: status, reason: "") }
        return status
    }
}
