import Foundation
import Hummingbird
import OpenAPIRuntime
import PDXAPITypes
public import Logging
import Market
import MarketStore
import PDXTokens
public import Postgres
public import ServiceLifecycle
import Synchronization

/// What access checks read from memory instead of the database: API keys with their parties (every
/// authenticated request), the published signing keys (a verifier that remembers tokens it checked) and
/// entitlements as last read (`POST /v1/entitlements/verify`). Every change is announced when it commits
/// (sql/0019: `pdx_api_keys` for a key's or a party's change, `pdx_signing_keys` for a rotation,
/// `pdx_entitlements` for an entitlement's state or end), and this service listens: while it is not
/// listening to all three (before the first `LISTEN`, after a reconnect until it is in effect again)
/// nothing is kept and every check reads the database, and a reconnect empties it. Entries also expire
/// after `maximumAge`, a bound on staleness should a notification ever be dropped.
public final class AccessCache: Service, Sendable {
    static let channels = ["pdx_api_keys", "pdx_signing_keys", "pdx_entitlements"]
    let capacity: Int
    let maximumAge: Duration
    private let listener: PostgresListener
    private let state = Mutex(State())

    /// An API key found valid: the digest it must match, its party and itself.
    struct Key: Sendable {
        var digest: Data
        var party: Party
        var key: APIKey
    }

    private struct State {
        var keys: [String: (key: Key, stored: ContinuousClock.Instant)] = [:]
        /// With the entitlement's JSON as the API writes it, for `CachedTokenChecks`.
        var entitlements: [UUID: (entitlement: Entitlement, json: ByteBuffer, stored: ContinuousClock.Instant)] = [:]
        var verifier: (verifier: TokenVerifier, stored: ContinuousClock.Instant)?
        var generation: UInt64 = 0
        var listening = Set<String>()

        mutating func clear() {
            generation &+= 1
            keys = [:]
            entitlements = [:]
            verifier = nil
        }
    }

    public init(database: PostgresConfiguration, capacity: Int = 100_000, maximumAge: Duration = .seconds(30), logger: Logger) throws {
        var configuration = database
        configuration.applicationName = "pdx serve access cache"
        listener = try PostgresListener(configuration: configuration, logger: logger)
        self.capacity = capacity
        self.maximumAge = maximumAge
    }

    public func run() async throws {
        let streams = try Self.channels.map { ($0, try listener.subscribe(to: $0)) }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for (channel, events) in streams { group.addTask { await self.follow(events, channel: channel) } }
            }
        } onGracefulShutdown: {
            self.listener.shutdown()
        }
        state.withLock { state in
            state.clear()
            state.listening = []
        }
    }

    private func follow(_ events: AsyncStream<PostgresListenerEvent>, channel: String) async {
        for await event in events {
            state.withLock { state in
                switch event {
                case .listening:
                    // (Again, after a reconnect: what was announced meanwhile is lost, so nothing kept survives.)
                    state.clear()
                    state.listening.insert(channel)
                case .notification(let notification):
                    state.generation &+= 1
                    let payload = notification.payload
                    switch channel {
                    case "pdx_signing_keys":
                        state.verifier = nil
                    case "pdx_entitlements":
                        if let id = UUID(uuidString: payload) { state.entitlements[id] = nil } else { state.entitlements = [:] }
                    default:
                        if payload.hasPrefix("party:"), let party = UUID(uuidString: String(payload.dropFirst(6))) {
                            state.keys = state.keys.filter { $0.value.key.party.id != party }
                        } else {
                            state.keys[payload] = nil
                        }
                    }
                }
            }
        }
    }

    /// Where a read starts: pass it to `store` with what was read. Nil while not listening to every channel.
    func generation() -> UInt64? {
        state.withLock { $0.listening.count == Self.channels.count ? $0.generation : nil }
    }

    private func fresh(_ stored: ContinuousClock.Instant, _ state: State) -> Bool {
        state.listening.count == Self.channels.count && .now - stored < maximumAge
    }

    func key(prefix: String) -> Key? {
        state.withLock { state in state.keys[prefix].flatMap { fresh($0.stored, state) ? $0.key : nil } }
    }

    func store(_ key: Key, readAt generation: UInt64) {
        state.withLock { state in
            guard state.listening.count == Self.channels.count, state.generation == generation else { return }
            if state.keys.count >= capacity, state.keys[key.key.prefix] == nil { state.keys = [:] }
            state.keys[key.key.prefix] = (key, .now)
        }
    }

    func verifier() -> TokenVerifier? {
        state.withLock { state in state.verifier.flatMap { fresh($0.stored, state) ? $0.verifier : nil } }
    }

    func store(_ verifier: TokenVerifier, readAt generation: UInt64) {
        state.withLock { state in
            guard state.listening.count == Self.channels.count, state.generation == generation else { return }
            state.verifier = (verifier, .now)
        }
    }

    func entitlement(_ id: UUID) -> Entitlement? { entry(id)?.entitlement }

    /// The entitlement and its JSON, while fresh.
    func entry(_ id: UUID) -> (entitlement: Entitlement, json: ByteBuffer)? {
        state.withLock { state in state.entitlements[id].flatMap { fresh($0.stored, state) ? ($0.entitlement, $0.json) : nil } }
    }

    func store(_ entitlement: Entitlement, readAt generation: UInt64) {
        guard let json = try? MarketAPI.encoder.encode(Components.Schemas.Entitlement(entitlement)) else { return }
        state.withLock { state in
            guard state.listening.count == Self.channels.count, state.generation == generation else { return }
            if state.entitlements.count >= capacity, state.entitlements[entitlement.id] == nil {
                state.entitlements = state.entitlements.filter { .now - $0.value.stored < maximumAge }
                guard state.entitlements.count < capacity else { return }
            }
            state.entitlements[entitlement.id] = (entitlement, ByteBuffer(bytes: json), .now)
        }
    }
}

/// Answers `POST /v1/entitlements/verify` from the access cache, before the generated server (which would
/// decode the body and encode the answer anew each time): the token checked by the cached verifier, the
/// entitlement's JSON as the API wrote it when it was read. A body it does not recognise as `{"token": …}`,
/// or a cache that is not listening, goes on to the generated server, which answers the same.
struct CachedTokenChecks: RouterMiddleware {
    let cache: AccessCache
    let store: MarketStore

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard request.method == .post, request.uri.path == "/v1/entitlements/verify", let party = context.party,
              let generation = cache.generation() else {
            return try await next(request, context)
        }
        let body = try await request.body.collect(upTo: 16 << 10)
        func passOn() async throws -> Response {
            try await next(Request(head: request.head, body: Hummingbird.RequestBody(buffer: body)), context)
        }
        guard let token = Self.token(in: body) else { return try await passOn() }
        let verifier: TokenVerifier
        if let cached = cache.verifier() {
            verifier = cached
        } else {
            verifier = TokenVerifier(keys: try await store.publishedKeys())
            cache.store(verifier, readAt: generation)
        }
        let claims: EntitlementClaims
        do throws(EntitlementToken.Refusal) {
            claims = try verifier.verify(token)
        } catch {
            return Self.answer(#"{"reason":"\#(error.rawValue)","valid":false}"#)
        }
        guard claims.aud == party.id.uuidString.lowercased(), let id = claims.entitlementID else {
            return Self.answer(#"{"reason":"not_your_entitlement","valid":false}"#)
        }
        let (entitlement, json): (Entitlement, ByteBuffer)
        if let entry = cache.entry(id) {
            (entitlement, json) = entry
        } else {
            let read = try await store.entitlement(id)
            cache.store(read, readAt: generation)
            guard let entry = cache.entry(id) else { return try await passOn() }
            (entitlement, json) = entry
        }
        guard entitlement.sellerID == party.id else { return Self.answer(#"{"reason":"not_your_entitlement","valid":false}"#) }
        let reason = entitlement.refusal(at: Date())
        // Keys in order, as the generated server writes them.
        var answer = ByteBuffer(string: #"{"entitlement":"#)
        answer.writeImmutableBuffer(json)
        answer.writeString(#","expires_at":"\#(Self.rfc3339(claims.exp))""#)
        if let reason { answer.writeString(#","reason":"\#(reason)""#) }
        answer.writeString(#","valid":\#(reason == nil)}"#)
        return Response(status: .ok, headers: [.contentType: CachedCatalogueReads.contentType], body: .init(byteBuffer: answer))
    }

    /// The token of a body that is exactly `{"token": "<compact JWS>"}` (spaces allowed around the parts); nil
    /// for anything else, which the generated server reads.
    static func token(in body: ByteBuffer) -> String? {
        let bytes = body.readableBytesView
        var index = bytes.startIndex
        func skipSpace() { while index < bytes.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 } }
        func expect(_ text: StaticString) -> Bool {
            skipSpace()
            let expected = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
            guard bytes.endIndex - index >= expected.count, zip(bytes[index...], expected).allSatisfy({ $0 == $1 }) else { return false }
            index += expected.count
            return true
        }
        guard expect("{"), expect("\"token\""), expect(":"), expect("\"") else { return nil }
        let start = index
        // A compact JWS: base64url parts and dots, nothing a JSON string would escape.
        while index < bytes.endIndex, bytes[index] != UInt8(ascii: "\"") {
            let byte = bytes[index]
            guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") else { return nil }
            index += 1
        }
        guard index < bytes.endIndex, (1...4096).contains(index - start) else { return nil }
        let token = String(decoding: bytes[start..<index], as: UTF8.self)
        index += 1
        guard expect("}") else { return nil }
        skipSpace()
        return index == bytes.endIndex ? token : nil
    }

    /// `2026-12-06T21:30:00Z`: what the API writes for a time (whole seconds, UTC), without a formatter.
    static func rfc3339(_ seconds: Int64) -> String {
        var time = time_t(seconds), parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    static func answer(_ json: String) -> Response {
        Response(status: .ok, headers: [.contentType: CachedCatalogueReads.contentType], body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}
