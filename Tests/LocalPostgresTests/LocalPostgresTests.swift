import Foundation
import LocalPostgres
import PDXTestSupport
import Postgres
import Testing

private func temporaryFolder(_ name: String) -> URL {
    URL(fileURLWithPath: "/tmp/pdx-lp-\(name)-\(UUID().uuidString.prefix(8))")
}

@Suite struct LocalPostgresTests {
    @Test func devClusterKeepsItsDataAcrossRestarts() async throws {
        let folder = temporaryFolder("dev")
        let cluster = LocalPostgres(directory: folder, profile: .dev)
        defer { Task { try? await cluster.destroy() } }
        let endpoint = try await cluster.start()
        try cluster.removeWhenProcessExits(pid: getpid())
        #expect(try await cluster.isRunning())
        let configuration = PostgresConfiguration(connectionString: endpoint.connectionString())
        try await withConnection(configuration) { connection throws in
            try await connection.execute("CREATE TABLE kept (note text)")
            try await connection.execute("INSERT INTO kept VALUES (\("still here"))")
            // The dev profile is durable; collation is bytewise, character classes are UTF-8 aware.
            #expect(try await connection.query("SHOW fsync").scalar(String.self) == "on")
            #expect(try await connection.query("SELECT datctype FROM pg_database WHERE datname = 'postgres'").scalar(String.self) == "C.UTF-8")
        }
        // Starting a running cluster finds it running.
        _ = try await cluster.start()
        try await cluster.stop()
        #expect(try await cluster.isRunning() == false)
        let again = try await cluster.start()
        let note = try await withConnection(PostgresConfiguration(connectionString: again.connectionString())) { connection in
            try await connection.query("SELECT note FROM kept").scalar(String.self)
        }
        #expect(note == "still here")
        try await cluster.destroy()
        #expect(!FileManager.default.fileExists(atPath: folder.path))
    }

    @Test func testProfileTradesDurabilityForSpeed() async throws {
        let configuration = try await TestDatabase.adminConfiguration()
        guard try await TestDatabase.localCluster() != nil else { return }  // an external server keeps its own settings
        try await withConnection(configuration) { connection throws in
            #expect(try await connection.query("SHOW fsync").scalar(String.self) == "off")
            #expect(try await connection.query("SHOW synchronous_commit").scalar(String.self) == "off")
            #expect(try await connection.query("SHOW listen_addresses").scalar(String.self) == "")
        }
    }

    @Test func optionalTCPListenerOnLoopback() async throws {
        let folder = temporaryFolder("tcp")
        let port = Int.random(in: 20_000..<32_000)
        let cluster = LocalPostgres(directory: folder, profile: .test, port: port, listensOnTCP: true)
        defer { Task { try? await cluster.destroy() } }
        try await cluster.start()
        try cluster.removeWhenProcessExits(pid: getpid())
        let configuration = PostgresConfiguration(connectionString: "host=127.0.0.1 port=\(port) user=pdx dbname=postgres sslmode=disable")
        let answer = try await withConnection(configuration) { try await $0.query("SELECT inet_server_addr()::text").scalar(String.self) }
        #expect(answer == "127.0.0.1/32")
        try await cluster.destroy()
    }

    @Test(.enabled(if: geteuid() == 0, "only root runs the server as another user who may not reach the folder"))
    func unreachableFolderIsRelocated() async throws {
        // A 0700 parent that the postgres user cannot traverse, like root's home.
        let parent = temporaryFolder("private")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: parent) }
        let folder = parent.appendingPathComponent("cluster")
        let cluster = LocalPostgres(directory: folder, profile: .test)
        let endpoint = try await cluster.start()
        try cluster.removeWhenProcessExits(pid: getpid())
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: folder.path)
        #expect(target.hasPrefix("/var/tmp/pdx-postgres-"))
        #expect(try await withConnection(PostgresConfiguration(connectionString: endpoint.connectionString())) {
            try await $0.query("SELECT 1").scalar(Int.self)
        } == 1)
        try await cluster.destroy()
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    @Test func longFolderPathsUseAShortSocketFolder() async throws {
        let top = temporaryFolder("deep")
        let deep = top.appendingPathComponent(String(repeating: "nested-folder/", count: 6))
        let cluster = LocalPostgres(directory: deep, profile: .test)
        defer { try? FileManager.default.removeItem(at: top) }
        let endpoint = try await cluster.start()
        try cluster.removeWhenProcessExits(pid: getpid())
        #expect(endpoint.socketDirectory.hasPrefix("/tmp/pdx-"))
        let answer = try await withConnection(PostgresConfiguration(connectionString: endpoint.connectionString())) {
            try await $0.query("SELECT 2").scalar(Int.self)
        }
        try await cluster.destroy()
        #expect(answer == 2)
        #expect(!FileManager.default.fileExists(atPath: endpoint.socketDirectory))
    }

    @Test func missingServerProgramsSayWhatToInstall() {
        let error = #expect(throws: LocalPostgresError.self) {
            try PostgresBinaries.find(path: "/nonexistent", installRoot: "/nonexistent")
        }
        #expect(error?.description.contains("apt-get install postgresql") == true)
        #expect(error?.description.contains("DATABASE_URL") == true)
    }
}
