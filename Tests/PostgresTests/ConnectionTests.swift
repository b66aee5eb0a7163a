import Foundation
import LocalPostgres
import PDXTestSupport
import Postgres
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ConnectionTests {
    @Test func missingDatabaseFailsFastWithTheServersMessage() async throws {
        var configuration = try await TestDatabase.adminConfiguration()
        configuration.database = "no_such_database"
        configuration.connectTimeout = .seconds(20)
        let (error, elapsed) = await measure {
            await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(configuration: configuration) }
        }
        #expect(elapsed < .seconds(12), "the server's answer ends the attempt, long before the 20 s timeout")
        #expect(error?.kind == .connectionFailed)
        #expect(error?.message.contains("database \"no_such_database\" does not exist") == true)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["PDX_TEST_DATABASE_URL"] == nil,
                   "needs the throwaway cluster, whose pg_hba.conf the test may change"))
    func wrongPasswordFailsFastWithTheServersMessage() async throws {
        let cluster = try #require(try await TestDatabase.localCluster())
        let admin = try await TestDatabase.adminConfiguration()
        let role = "pdx_password_\(UUID().uuidString.prefix(8).lowercased())"
        let hba = cluster.dataDirectory.appendingPathComponent("pg_hba.conf")
        let original = try String(contentsOf: hba, encoding: .utf8)
        try await withConnection(admin) { connection in
            // Utility statements take no parameters; the password is this test's own constant.
            try await connection.execute("CREATE ROLE \(identifier: role) LOGIN PASSWORD 'right horse battery'")
            try ("local all \(role) scram-sha-256\n" + original).write(to: hba, atomically: false, encoding: .utf8)
            try await connection.execute("SELECT pg_reload_conf()")
        }
        defer { try? original.write(to: hba, atomically: false, encoding: .utf8) }
        try await Task.sleep(for: .milliseconds(300))
        func configuration(password: String) -> PostgresConfiguration {
            PostgresConfiguration(connectionString: admin.connectionString + " user=\(role) password='\(password)'",
                                  connectTimeout: .seconds(20))
        }
        let (error, elapsed) = await measure {
            await #expect(throws: PostgresError.self) {
                try await PostgresConnection.connect(configuration: configuration(password: "wrong"))
            }
        }
        #expect(elapsed < .seconds(12), "the server's refusal ends the attempt, long before the 20 s timeout")
        #expect(error?.kind == .connectionFailed)
        #expect(error?.message.contains("password authentication failed for user \"\(role)\"") == true)
        let user = try await withConnection(configuration(password: "right horse battery")) { connection in
            try await connection.query("SELECT current_user").scalar(String.self)
        }
        #expect(user == role)
        try original.write(to: hba, atomically: false, encoding: .utf8)
        try await withConnection(admin) { connection in
            try await connection.execute("SELECT pg_reload_conf()")
            try await connection.execute("DROP ROLE \(identifier: role)")
        }
    }

    @Test func deadServerFailsFast() async throws {
        let configuration = PostgresConfiguration(connectionString: "host=/tmp/pdx-no-server-here port=5999 user=pdx dbname=x")
        let (error, elapsed) = await measure {
            await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(configuration: configuration) }
        }
        #expect(elapsed < .seconds(8), "a missing server is reported at once, not after the 10 s connect timeout")
        #expect(error?.kind == .connectionFailed)
        #expect(error?.message.contains("No such file or directory") == true)
    }

    @Test func serverThatNeverAnswersTimesOut() async throws {
        // A socket that accepts TCP connections (the kernel's backlog) but never speaks.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(listener, $0, length) } }
        listen(listener, 8)
        withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)
        let configuration = PostgresConfiguration(
            connectionString: "host=127.0.0.1 port=\(port) user=pdx dbname=x sslmode=disable", connectTimeout: .milliseconds(500))
        let (error, elapsed) = await measure {
            await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(configuration: configuration) }
        }
        #expect(error?.kind == .connectTimeout)
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(8))
    }

    @Test func closedConnectionReportsItsState() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let connection = try await PostgresConnection.connect(configuration: configuration)
            #expect(await connection.isReusable)
            await connection.close()
            #expect(await connection.isClosed)
            let error = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(error?.kind == .connectionClosed)
        }
    }

    @Test func terminatedBackendGivesAConnectionError() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let victim = try await PostgresConnection.connect(configuration: configuration)
            let pid = await victim.backendPID
            _ = try await withConnection(configuration) { admin in
                try await admin.execute("SELECT pg_terminate_backend(\(pid))")
            }
            try await Task.sleep(for: .milliseconds(100))
            let error = await #expect(throws: PostgresError.self) { try await victim.query("SELECT 1") }
            #expect(error?.isConnectionFailure == true)
            #expect(await victim.isClosed)
        }
    }
}

@Suite struct CancellationTests {
    @Test func cancellingTheTaskCancelsTheQueryAndKeepsTheConnection() async throws {
        try await withTestConnection { connection throws in
            let sleeper = Task { try await connection.query("SELECT pg_sleep(10)") }
            try await Task.sleep(for: .milliseconds(300))
            let (result, elapsed) = await measure {
                sleeper.cancel()
                return await sleeper.result
            }
            #expect(elapsed < .seconds(8), "cancelled, not waiting out the 10 s sleep")
            #expect(throws: CancellationError.self) { try result.get() }
            #expect(try await connection.query("SELECT \(5) + 5").scalar(Int.self) == 10)
            #expect(await connection.transactionStatus == .idle)
        }
    }

    @Test func cancellingInsideATransactionRollsItBack() async throws {
        try await withTestConnection { connection throws in
            try await connection.execute("CREATE TABLE t (n int)")
            let work = Task {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (1)")
                    try await connection.execute("SELECT pg_sleep(10)")
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            work.cancel()
            await #expect(throws: CancellationError.self) { try await work.value }
            #expect(try await connection.query("SELECT count(*) FROM t").scalar(Int.self) == 0)
            #expect(await connection.transactionStatus == .idle)
        }
    }

    @Test func waitingForTheServerBlocksNoSharedThread() async throws {
        // Sixteen connections each wait 1.5 s in the server at once. If waiting occupied threads of the
        // cooperative pool (two on this machine), they would take 12 s in turn; the bound leaves room
        // for the rest of the suite loading the machine.
        try await TestDatabase.withDatabase { configuration throws in
            let connections = try await withThrowingTaskGroup(of: PostgresConnection.self) { group in
                for _ in 0..<16 { group.addTask { try await PostgresConnection.connect(configuration: configuration) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let (_, elapsed) = try await measure {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for connection in connections { group.addTask { try await connection.execute("SELECT pg_sleep(1.5)") } }
                    // Meanwhile, ordinary async work keeps running.
                    group.addTask { for _ in 0..<10 { try await Task.sleep(for: .milliseconds(10)) } }
                    try await group.waitForAll()
                }
            }
            #expect(elapsed < .seconds(6))
            for connection in connections { await connection.close() }
        }
    }

    @Test func queriesRunOnTheConnectionsOwnThread() async throws {
        try await TestDatabase.withDatabase { configuration throws in
            let first = try await PostgresConnection.connect(configuration: configuration)
            let second = try await PostgresConnection.connect(configuration: configuration)
            let a = try await first.transaction { connection in
                _ = try await connection.query("SELECT 1")
                return UInt(pthread_self())
            }
            let b = try await first.transaction { _ in UInt(pthread_self()) }
            let other = try await second.transaction { _ in UInt(pthread_self()) }
            #expect(a == b)
            #expect(a != other)
            await first.close()
            await second.close()
        }
    }
}
