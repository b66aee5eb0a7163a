#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
public import Market

/// Where webhooks may point. pdx calls a webhook on its party's behalf from inside the deployment, so
/// outside development a URL must be https and every address its host resolves to must be globally
/// reachable: never this machine (loopback, unspecified), a private, shared or link-local network (the
/// cloud metadata service at 169.254.169.254), a documentation, benchmark or reserved range, multicast,
/// or the database's own addresses. The URL is checked when it is set and again, resolved anew, before
/// every delivery (a name may resolve elsewhere by then).
public struct WebhookPolicy: Sendable, Equatable {
    /// Plain http URLs are accepted (development on one machine).
    public var allowHTTP: Bool
    /// Any address is accepted (development: a receiver on loopback).
    public var allowPrivateAddresses: Bool
    /// Addresses refused besides the ranges (numeric text, as `inet_ntop` writes them): the database's.
    public var refusedAddresses: Set<String>

    public init(allowHTTP: Bool = false, allowPrivateAddresses: Bool = false, refusedAddresses: Set<String> = []) {
        self.allowHTTP = allowHTTP
        self.allowPrivateAddresses = allowPrivateAddresses
        self.refusedAddresses = refusedAddresses
    }

    /// What `pdx dev` and the tests' local receivers use: http and loopback allowed.
    public static let development = WebhookPolicy(allowHTTP: true, allowPrivateAddresses: true)

    /// Checks `url` as a webhook, naming `field` when it refuses, and returns it with its scheme in lower
    /// case (as stored). A host that does not resolve (yet, or within five seconds) is accepted here: the
    /// check before each delivery resolves it again.
    public func check(_ url: String, field: String = "url") async throws(MarketInputError) -> CheckedWebhookURL {
        let host = try Self.host(of: url, field: field, allowHTTP: allowHTTP)
        let checked = CheckedWebhookURL(url: Self.lowercasingScheme(url))
        guard !allowPrivateAddresses else { return checked }
        for address in await Self.resolve(host) {
            if let why = refusal(address) {
                throw MarketInputError(field: field, rule: "must not point at \(why) (\(host) is \(address.text))")
            }
        }
        return checked
    }

    /// Checks `url` before a delivery: as `check` (a refusal is a `MarketInputError`: do not deliver),
    /// and its host must resolve now (else `WebhookHostUnresolved`: try again later). Returns the address
    /// to connect to (one that passed), so that a name resolving elsewhere a moment later cannot redirect
    /// the delivery; nil when any address is allowed.
    public func checkBeforeDelivery(_ url: String) async throws -> String? {
        let host = try Self.host(of: url, field: "url", allowHTTP: allowHTTP)
        guard !allowPrivateAddresses else { return nil }
        let addresses = await Self.resolve(host)
        guard let first = addresses.first else { throw WebhookHostUnresolved(host: host) }
        for address in addresses {
            if let why = refusal(address) { throw MarketInputError(field: "url", rule: "must not point at \(why) (\(host) is \(address.text))") }
        }
        return first.text
    }

    /// Why an address is refused, or nil when it is globally reachable.
    func refusal(_ address: IPAddress) -> String? {
        if refusedAddresses.contains(address.text) { return "the database's address" }
        return address.specialPurpose
    }

    /// The URL's host, after the syntax checks (http or https, a host, no spaces, at most 2000 characters).
    static func host(of url: String, field: String, allowHTTP: Bool) throws(MarketInputError) -> String {
        guard !url.utf8.contains(0) else { throw MarketInputError.nulCharacter(field) }
        guard url.unicodeScalars.count <= 2000, !url.contains(where: \.isWhitespace), let parsed = URL(string: url),
              let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = parsed.host, !host.isEmpty
        else { throw MarketInputError(field: field, rule: "must be an http or https URL of at most 2000 characters") }
        guard scheme == "https" || allowHTTP else { throw MarketInputError(field: field, rule: "must be an https URL") }
        guard parsed.user == nil, parsed.password == nil else {
            throw MarketInputError(field: field, rule: "must not carry a user name or password (the signature authenticates pdx)")
        }
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// `url` with its scheme in lower case (`HTTPS://x` → `https://x`): schemes are case-insensitive, and
    /// this is the form the database's check and every reader expect.
    static func lowercasingScheme(_ url: String) -> String {
        guard let colon = url.firstIndex(of: ":") else { return url }
        return url[..<colon].lowercased() + url[colon...]
    }

    /// Every address `host` resolves to (a numeric host is itself, in any form `getaddrinfo` reads, such
    /// as `127.1` or `2130706433`); empty when it does not resolve within `limit`. Runs off the cooperative
    /// pool: a resolver may block (and a lookup that outlives the limit finishes on its own thread).
    static func resolve(_ host: String, limit: Duration = .seconds(5)) async -> [IPAddress] {
        await withTaskGroup(of: [IPAddress]?.self) { group in
            group.addTask { await lookUp(host) }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            return (await group.next() ?? nil) ?? []
        }
    }

    private static func lookUp(_ host: String) async -> [IPAddress] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &list) == 0 else { return continuation.resume(returning: []) }
                defer { freeaddrinfo(list) }
                var found: [IPAddress] = []
                var entry = list
                while let current = entry {
                    if let address = IPAddress(current.pointee.ai_addr), !found.contains(address) { found.append(address) }
                    entry = current.pointee.ai_next
                }
                continuation.resume(returning: found)
            }
        }
    }
}

/// A webhook URL that passed a `WebhookPolicy` (the only kind a party's webhook is set to).
public struct CheckedWebhookURL: Sendable, Equatable {
    public let url: String
}

/// A webhook's host that does not resolve (now).
public struct WebhookHostUnresolved: Error, CustomStringConvertible {
    public var host: String
    public var description: String { "the webhook's host \(host) does not resolve" }
}

/// An IPv4 or IPv6 address, as bytes.
struct IPAddress: Sendable, Hashable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    init?(_ socketAddress: UnsafeMutablePointer<sockaddr>?) {
        guard let socketAddress else { return nil }
        switch Int32(socketAddress.pointee.sa_family) {
        case AF_INET:
            bytes = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
            }
        case AF_INET6:
            bytes = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
            }
        default:
            return nil
        }
    }

    /// Numeric text (`inet_ntop`).
    var text: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard written != nil else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The special-purpose range the address lies in (IANA's registries: not globally reachable), or nil.
    var specialPurpose: String? {
        if bytes.count == 4 { return Self.special4(bytes) }
        guard bytes.count == 16 else { return "an address of unknown form" }
        let zeros = bytes[0..<10].allSatisfy { $0 == 0 }
        if bytes.allSatisfy({ $0 == 0 }) { return "the unspecified address" }
        if zeros && bytes[10..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return "loopback" }
        // IPv4 inside IPv6 (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16): as the IPv4 address.
        if zeros && ((bytes[10] == 0xff && bytes[11] == 0xff) || (bytes[10] == 0 && bytes[11] == 0)) { return Self.special4(Array(bytes[12..<16])) }
        if bytes[0..<4] == [0x00, 0x64, 0xff, 0x9b] {
            if bytes[4..<12].allSatisfy({ $0 == 0 }) { return Self.special4(Array(bytes[12..<16])) }
            if bytes[4..<6] == [0x00, 0x01] { return "a local-use NAT64 range" }
        }
        if bytes[0] == 0x20 && bytes[1] == 0x02 { return Self.special4(Array(bytes[2..<6])) }
        if bytes[0] & 0xfe == 0xfc { return "a private network (unique local)" }
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return "a link-local network" }
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0xc0 { return "a site-local network" }
        if bytes[0] == 0xff { return "a multicast address" }
        if bytes[0..<4] == [0x20, 0x01, 0x0d, 0xb8] { return "a documentation range" }
        if bytes[0..<2] == [0x01, 0x00] && bytes[2..<8].allSatisfy({ $0 == 0 }) { return "a discard range" }
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] & 0xfe == 0 { return "an IETF protocol range" }
        return nil
    }

    private static func special4(_ b: [UInt8]) -> String? {
        switch (b[0], b[1], b[2]) {
        case (0, _, _): return "this network (0.0.0.0/8)"
        case (10, _, _): return "a private network (10.0.0.0/8)"
        case (100, 64...127, _): return "a shared address space (100.64.0.0/10)"
        case (127, _, _): return "loopback (127.0.0.0/8)"
        case (169, 254, _): return "a link-local network (169.254.0.0/16, cloud metadata)"
        case (172, 16...31, _): return "a private network (172.16.0.0/12)"
        case (192, 0, 0): return "an IETF protocol range (192.0.0.0/24)"
        case (192, 0, 2), (198, 51, 100), (203, 0, 113): return "a documentation range"
        case (192, 88, 99): return "a 6to4 relay range"
        case (192, 168, _): return "a private network (192.168.0.0/16)"
        case (198, 18...19, _): return "a benchmarking range (198.18.0.0/15)"
        case (224...239, _, _): return "a multicast address"
        case (240...255, _, _): return "a reserved range (240.0.0.0/4)"
        default: return nil
        }
    }
}
