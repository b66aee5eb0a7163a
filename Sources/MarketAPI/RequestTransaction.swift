import Foundation
import Hummingbird
import HTTPTypes
import Market
import MarketStore
import OpenAPIRuntime
import PDXAPITypes

/// One request, one transaction: every POST and PUT under `/v1` runs its handler inside one database
/// transaction that every store call joins, so a request's writes, audit events and jobs commit together
/// or not at all (and a deadlock runs the handler again from the start, on the same body).
///
/// A POST with an `Idempotency-Key` happens at most once per key: the key and the response are recorded in
/// the handler's own transaction, so a retry after any crash either gets the first response again
/// (`Idempotent-Replayed: true`) or runs the request for the first time; the same key with another body is a
/// 422; a retry while the first still runs waits for it. Whatever is slow and needs no lock is done before
/// the transaction opens: `POST /v1/webhook` resolves and checks its URL's host first.
struct RequestTransaction: RouterMiddleware {
    let store: MarketStore
    let webhooks: WebhookPolicy

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard request.method == .post || request.method == .put, request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        // Checking a token changes nothing and is answered from memory: no transaction to open.
        guard request.uri.path != "/v1/entitlements/verify" else { return try await next(request, context) }
        // Every POST and PUT of the contract needs a key but applying to join (Authenticate lets no other
        // through without one); the body is read only then, and at most 1 MiB of it (4 MiB for a batch of usage events).
        let party = context.party
        guard party != nil || Authenticate.isPublic(request) else { throw Problem.unauthorized }
        // Every body of the contract is JSON; one declared as anything else is refused before it is read.
        if let type = request.headers[.contentType], !Self.isJSON(type) {
            throw MarketInputError(field: "Content-Type", rule: "must be application/json")
        }
        let collected = try await request.body.collect(upTo: request.uri.path == "/v1/usage" ? context.maxUploadSize : 1 << 20)
        // No body at all reads as {}: an action without parameters may be posted with none.
        let body = collected.readableBytes == 0 ? ByteBuffer(string: "{}") : collected
        let data = Data(body.readableBytesView)
        let parsed = try RequestBody.check(data)
        let key = try request.method == .post ? request.headers[.idempotencyKey].flatMap { key throws -> IdempotencyKey? in
            // Idempotency keys are a party's: applications (without a key) have none. The same JSON is the same
            // request, whatever the order of its keys or its spacing (a client that builds the body again on a
            // retry may write it differently).
            guard let party else { return nil }
            let canonical = try JSONSerialization.data(withJSONObject: parsed, options: [.sortedKeys, .fragmentsAllowed])
            return try IdempotencyKey(party: party.id, key: key, method: request.method.rawValue, path: request.uri.path, body: canonical)
        } : nil
        let webhook = try await checkedWebhook(request, body: data)
        let outcome: MarketStore.RequestOutcome
        do {
            outcome = try await withoutActuallyEscaping(next) { next in
                let handler = Handler(next: next)
                return try await PreparedWebhook.$current.withValue(webhook) {
                    try await store.withRequestTransaction(idempotency: key) {
                        var head = request.head
                        head.headerFields[.contentLength] = String(body.readableBytes)  // `{}` for no body
                        let attempt = Request(head: head, body: Hummingbird.RequestBody(buffer: body))
                        return try await Self.stored(try await handler.next(attempt, context))
                    }
                }
            }
        } catch let error as ServerError {
            // The generated server's decoding lost the field of some errors; the body still knows it.
            if let explained = RequestBody.explain(error.underlyingError, body: parsed) { throw explained }
            throw error
        }
        switch outcome {
        case .performed(let response): return Self.response(response, replayed: false)
        case .replayed(let response): return Self.response(response, replayed: true)
        }
    }

    /// `application/json`, with or without parameters (`; charset=utf-8`).
    static func isJSON(_ contentType: String) -> Bool {
        (contentType.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
    }

    /// The URL of a `POST /v1/webhook`, checked; nil for any other request, or a body the handler refuses.
    private func checkedWebhook(_ request: Request, body: Data) async throws -> PreparedWebhook? {
        // Matched as the router matches it: by its non-empty path components (`/v1//webhook/` too).
        guard request.method == .post, request.uri.path.split(separator: "/") == ["v1", "webhook"],
              let setting = try? JSONDecoder().decode(Components.Schemas.WebhookSetting.self, from: body) else { return nil }
        return PreparedWebhook(url: try await setting.url.asyncMap { try await store.checkWebhook($0, policy: webhooks) })
    }

    /// The rest of the chain, called only within `handle` (sequentially, on retries): it does not escape.
    private struct Handler: @unchecked Sendable {
        let next: (Request, APIContext) async throws -> Response
    }

    /// A response as recorded for its key: status, the headers a retry needs, and the whole body.
    static func stored(_ response: Response) async throws -> StoredResponse {
        // Handlers throw their refusals; a refusal returned as a response would otherwise commit.
        guard response.status.code < 400 else { throw ContractMismatch(description: "a handler returned \(response.status) instead of throwing") }
        let collected = Collected()
        try await response.body.write(CollectingWriter(into: collected))
        var headers: [String: String] = [:]
        for name in [HTTPField.Name.contentType, .location] { headers[name.canonicalName] = response.headers[name] }
        return StoredResponse(status: Int(response.status.code), headers: headers, body: Data(collected.buffer.readableBytesView))
    }

    static func response(_ stored: StoredResponse, replayed: Bool) -> Response {
        var headers = HTTPFields()
        for (name, value) in stored.headers { if let field = HTTPField.Name(name) { headers[field] = value } }
        if replayed { headers[.idempotentReplayed] = "true" }
        return Response(status: HTTPResponse.Status(code: stored.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
    }
}

/// The webhook URL a `POST /v1/webhook` sets, checked before its transaction opened.
struct PreparedWebhook: Sendable {
    var url: CheckedWebhookURL?

    @TaskLocal static var current: PreparedWebhook?
}

private final class Collected: @unchecked Sendable {
    var buffer = ByteBuffer()
}

private struct CollectingWriter: ResponseBodyWriter {
    let into: Collected

    mutating func write(_ buffer: ByteBuffer) async throws {
        into.buffer.writeImmutableBuffer(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
