public import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An HTTP receiver on loopback for webhook tests: it records every request and answers each with the
/// next status of `statuses` (the last one repeats).
public final class WebhookReceiver: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Header names lowercased.
        public var headers: [String: String]
        public var body: Data
    }

    public let port: Int
    private let listener: Int32
    private let state: Mutex<(requests: [Request], statuses: [Int])>

    public init(statuses: [Int] = [200]) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ReceiverError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { Glibc.close(fd); throw ReceiverError("bind/listen: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        state = Mutex(([], statuses.isEmpty ? [200] : statuses))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    public var url: String { "http://127.0.0.1:\(port)/hooks/pdx" }

    public var requests: [Request] { state.withLock { $0.requests } }

    /// Stops accepting connections.
    public func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            handle(client)
            Glibc.close(client)
        }
    }

    private func handle(_ client: Int32) {
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let separator = Data("\r\n\r\n".utf8)
        var request: Request?
        while request == nil {
            let count = read(client, &buffer, buffer.count)
            guard count > 0 else { return }
            received.append(contentsOf: buffer[0..<count])
            guard let end = received.range(of: separator) else { continue }
            let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
            let start = head.first?.split(separator: " ").map(String.init) ?? []
            var headers: [String: String] = [:]
            for line in head.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            while received.count - end.upperBound < length {
                let more = read(client, &buffer, buffer.count)
                guard more > 0 else { return }
                received.append(contentsOf: buffer[0..<more])
            }
            request = Request(method: start.first ?? "", path: start.count > 1 ? start[1] : "", headers: headers,
                              body: received[end.upperBound..<(end.upperBound + length)])
        }
        guard let request else { return }
        let status = state.withLock { state in
            state.requests.append(request)
            return state.statuses.count > 1 ? state.statuses.removeFirst() : state.statuses[0]
        }
        let response = "HTTP/1.1 \(status) \(status < 300 ? "OK" : "Failing")\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = response.utf8CString.withUnsafeBufferPointer { write(client, $0.baseAddress, $0.count - 1) }
    }

    struct ReceiverError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
