import Foundation
import PDXTestSupport
import Postgres
import Testing

/// The next event, or a failure after `limit`.
private func next(
    _ iterator: inout AsyncStream<PostgresListenerEvent>.Iterator, within limit: Duration = .seconds(10)
) async throws -> PostgresListenerEvent {
    let box = IteratorBox(iterator)
    let event = try await withTimeout(limit, "listener event") { await box.next() }
    iterator = box.iterator
    return try #require(event)
}

private final class IteratorBox: @unchecked Sendable {
    var iterator: AsyncStream<PostgresListenerEvent>.Iterator
    init(_ iterator: AsyncStream<PostgresListenerEvent>.Iterator) { self.iterator = iterator }
    func next() async -> PostgresListenerEvent? { await iterator.next() }
}

@Suite struct ListenerTests {
    @Test func notificationsCrossConnectionsWithPayloadsAsData() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let listener = try PostgresListener(configuration: configuration)
            defer { listener.shutdown() }
            var events = try listener.subscribe(to: "market events").makeAsyncIterator()
            #expect(try await next(&events) == .listening)
            let payload = "'); DROP TABLE x; -- 新匹配 🚀"
            // Five notifications, one after another. The listener waits up to 30 s for input between
            // its own checks, so each arriving within seconds (milliseconds when the machine is calm)
            // shows that the notification itself woke it.
            var latencies: [Duration] = []
            for _ in 0..<5 {
                let (event, latency) = try await withConnection(configuration) { sender in
                    try await measure {
                        try await sender.notify(channel: "market events", payload: payload)
                        return try await next(&events)
                    }
                }
                guard case .notification(let notification) = event else { Issue.record("expected a notification"); return }
                #expect(notification.channel == "market events")
                #expect(notification.payload == payload)
                latencies.append(latency)
            }
            #expect(latencies.max()! < .seconds(15), "a notification wakes the listener; nothing polls: \(latencies)")
        }
    }

    @Test func notifyInsideATransactionArrivesOnlyAtCommit() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let listener = try PostgresListener(configuration: configuration)
            defer { listener.shutdown() }
            var events = try listener.subscribe(to: "jobs").makeAsyncIterator()
            #expect(try await next(&events) == .listening)
            try await withConnection(configuration) { sender in
                _ = try? await sender.transaction { connection in
                    try await connection.notify(channel: "jobs", payload: "rolled back")
                    throw CancellationError()
                }
                try await sender.transaction { connection in
                    try await connection.notify(channel: "jobs", payload: "committed")
                }
            }
            guard case .notification(let notification) = try await next(&events) else { Issue.record("expected a notification"); return }
            #expect(notification.payload == "committed")
        }
    }

    @Test func listenerSurvivesTerminationOfItsBackend() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            var listenerConfiguration = configuration
            listenerConfiguration.applicationName = "pdx-listener-under-test"
            let listener = try PostgresListener(configuration: listenerConfiguration)
            defer { listener.shutdown() }
            var events = try listener.subscribe(to: "jobs").makeAsyncIterator()
            #expect(try await next(&events) == .listening)
            try await withConnection(configuration) { admin in
                let terminated = try await admin.query("""
                    SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE application_name = 'pdx-listener-under-test') t
                    """).scalar(Int.self)
                #expect(terminated == 1)
                // The listener reconnects, runs LISTEN again and says so.
                #expect(try await next(&events) == .listening)
                try await admin.notify(channel: "jobs", payload: "after the reconnect")
                guard case .notification(let notification) = try await next(&events) else { Issue.record("expected a notification"); return }
                #expect(notification.payload == "after the reconnect")
            }
        }
    }

    @Test func channelsAreIndependentAndUnsubscribingStopsDelivery() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let listener = try PostgresListener(configuration: configuration)
            defer { listener.shutdown() }
            var a = try listener.subscribe(to: "a").makeAsyncIterator()
            var b = try listener.subscribe(to: "b").makeAsyncIterator()
            #expect(try await next(&a) == .listening)
            #expect(try await next(&b) == .listening)
            try await withConnection(configuration) { sender in
                try await sender.notify(channel: "b", payload: "for b")
                try await sender.notify(channel: "a", payload: "for a")
            }
            guard case .notification(let first) = try await next(&a) else { Issue.record("expected a notification"); return }
            guard case .notification(let second) = try await next(&b) else { Issue.record("expected a notification"); return }
            #expect(first.payload == "for a")
            #expect(second.payload == "for b")
        }
    }

    @Test func shutdownEndsSubscriptions() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let listener = try PostgresListener(configuration: configuration)
            var events = try listener.subscribe(to: "x").makeAsyncIterator()
            #expect(try await next(&events) == .listening)
            listener.shutdown()
            let box = IteratorBox(events)
            let end = try await withTimeout(.seconds(5), "end of subscription") { await box.next() }
            #expect(end == nil)
            #expect(throws: PostgresError.self) { try listener.subscribe(to: "x") }
        }
    }
}

@Suite struct ListenerLifetimeTests {
    @Test func theConnectionCloseWhenTheLastSubscriptionEndsAndReopensForTheNext() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            var listenerConfiguration = configuration
            listenerConfiguration.applicationName = "pdx-listener-lifetime"
            let listener = try PostgresListener(configuration: listenerConfiguration)
            defer { listener.shutdown() }
            func listenerConnections() async throws -> Int {
                try await withConnection(configuration) { admin in
                    try await admin.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pdx-listener-lifetime'").scalar(Int.self) ?? -1
                }
            }
            do {
                var events = try listener.subscribe(to: "x").makeAsyncIterator()
                #expect(try await next(&events) == .listening)
                #expect(try await listenerConnections() == 1)
            }
            // The only subscription is gone with its iterator: the listener lets go of its connection.
            for _ in 0..<100 where try await listenerConnections() != 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(try await listenerConnections() == 0)
            var again = try listener.subscribe(to: "x").makeAsyncIterator()
            let box = IteratorBox(again)
            let event = try await withTimeout(.seconds(10), "listening again") { await box.next() }
            again = box.iterator
            #expect(event == .listening)
        }
    }
}
