import Foundation
import HTTPTypes
import Hummingbird
import MarketStore
import Postgres
import ServiceLifecycle

extension Console {
    /// The channels each live page follows.
    static let topics: [String: [String]] = [
        "overview": ["pdx_matches", "pdx_catalogue", "pdx_jobs"],
        "queue": ["pdx_jobs"],
    ]

    /// Server-sent events for a live page (`GET /console/events?topic=overview|queue`, administrators): an
    /// event `refresh` when one of its channels is notified (at most one a second), a comment every 15
    /// seconds to keep the connection open. Ends when the reader leaves or the server shuts down. Without
    /// a listener it answers 204, which tells a browser's EventSource not to reconnect.
    func events<Context: RequestContext>(_ request: Request, context: Context) async -> Response {
        let page = ConsolePage(viewer: nil, language: ConsoleLanguage.of(request), path: request.uri.path, query: Self.query(request))
        let viewer: ConsoleViewer?
        do { viewer = try await session(request) } catch { return failure(error, page: page, context: context) }
        guard let viewer, Self.allows(.administrators, viewer) else { return Response(status: .forbidden, headers: Self.securityHeaders) }
        guard let channels = page.query["topic"].flatMap({ Self.topics[$0] }) else {
            return respond(page, status: .badRequest, Content(title: page.t("Not accepted", "未被接受"),
                                                             body: HTML("<p class=\"error\">topic must be overview or queue</p>")))
        }
        guard let listener = configuration.listener else { return Response(status: .noContent, headers: Self.securityHeaders) }
        let subscriptions: [(String, AsyncStream<PostgresListenerEvent>)]
        do {
            subscriptions = try channels.map { ($0, try listener.subscribe(to: $0)) }
        } catch {
            return Response(status: .noContent, headers: Self.securityHeaders)
        }
        var headers = Self.securityHeaders
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 5000\n\n"))
            let (merged, input) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
            // The server stopping ends the stream (else it would hold the graceful shutdown until the reader left).
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (channel, events) in subscriptions {
                        group.addTask {
                            for await event in events { if case .notification = event { input.yield(channel) } }
                            input.finish()
                        }
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(1))
                            input.yield("")
                        }
                    }
                    let clock = ContinuousClock()
                    var pending: String?
                    var lastEvent = clock.now - .seconds(2), lastWrite = clock.now
                    for await item in merged {
                        if !item.isEmpty { pending = item }
                        let now = clock.now
                        if let channel = pending, now - lastEvent >= .seconds(1) {
                            try await writer.write(ByteBuffer(string: "event: refresh\ndata: \(channel)\n\n"))
                            (pending, lastEvent, lastWrite) = (nil, now, now)
                        } else if now - lastWrite >= .seconds(15) {
                            try await writer.write(ByteBuffer(string: ": ping\n\n"))
                            lastWrite = now
                        }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                input.finish()
            }
            input.finish()
            try await writer.finish(nil)
        })
    }
}
