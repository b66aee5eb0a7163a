import Foundation
import LocalPostgres
import Market
import MarketStore
import PDXBenchmarks
import PDXCommandLine
import PDXDev
import PDXTestSupport
import Postgres
import Testing

extension HeavyProcesses {
    /// `pdx dev` and `pdx demo` as a newcomer runs them: real processes, real PostgreSQL, HTTP on loopback.
    @Suite struct DevAndDemoTests {
        /// Starts `pdx dev` with its output in a file; returns the process and that output once it is ready.
        func startDev(_ folder: URL, apiPort: Int, log: URL) async throws -> (ChildProcess, String) {
            let process = ChildProcess()
            process.executableURL = try pdxExecutable()
            process.arguments = ["dev", "--data-dir", folder.path, "--api-port", "\(apiPort)", "--workers", "1", "--log-level", "error"]
            process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "DATABASE_URL" }
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline, process.isRunning {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if output.contains("pdx dev is ready") { return (process, output) }
                try await Task.sleep(for: .milliseconds(200))
            }
            if process.isRunning { process.terminate() }
            throw TestFailure("pdx dev did not become ready: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }

        /// SIGINT, then waits for the exit without blocking a thread of the suite's (two-thread) pool.
        func stop(_ process: ChildProcess) async throws -> Int32 {
            kill(process.processIdentifier, SIGINT)
            while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            return process.terminationStatus
        }

        @Test func pdxDevServesTheDemoMarketWithKeysAndExamplesThatWorkAndResumes() async throws {
            let folder = URL(fileURLWithPath: "/tmp/pdx-devtest-\(UUID().uuidString.prefix(8))")
            let log = URL(fileURLWithPath: folder.path + ".log")
            defer { try? FileManager.default.removeItem(at: folder); try? FileManager.default.removeItem(at: log) }
            let port = Int.random(in: 20_000..<32_000)
            let (first, output) = try await startDev(folder, apiPort: port, log: log)
            #expect(output.contains("demo market: loaded"))
            #expect(output.contains("API:        http://127.0.0.1:\(port)"))
            let keys = output.split(separator: "\n").filter { $0.contains("pdx_") && !$0.contains("curl") }
            #expect(keys.count == 3 && ["demander", "operator", "agency"].allSatisfy { role in keys.contains { $0.contains(role) } }, "\(output)")
            // The four examples work as printed.
            let examples = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("curl ") }
            #expect(examples.count == 4)
            for example in examples {
                let (status, body) = try await run(URL(fileURLWithPath: "/bin/sh"), ["-c", example + " --fail --max-time 10"])
                #expect(status == 0, "\(example)")
                let items = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["items"] as? [Any]
                #expect(items?.isEmpty == false, "\(example) lists something of the demo market")
            }
            // The console's URL and an administrator's key, which signs in there as printed.
            #expect(output.contains("console:    http://127.0.0.1:\(port)/console"))
            let adminKey = try #require(output.firstMatch(of: /admin key:  (pdxadm_[0-9a-f]{12}_[0-9a-f]{48})/)?.1).description
            let jar = folder.path + ".cookies"
            defer { try? FileManager.default.removeItem(atPath: jar) }
            let signIn = """
                curl -s -c \(jar) -o /dev/null http://127.0.0.1:\(port)/console/sign-in && \
                curl -s -b \(jar) -o /dev/null -w '%{http_code} %{redirect_url}' \
                  -d "guard=$(awk '/pdx_sign_in/ {print $7}' \(jar))&key=\(adminKey)" http://127.0.0.1:\(port)/console/sign-in
                """
            let (signInStatus, signedIn) = try await run(URL(fileURLWithPath: "/bin/sh"), ["-c", signIn])
            #expect(signInStatus == 0 && signedIn == "303 http://127.0.0.1:\(port)/console", "\(signedIn)")
            #expect(try await stop(first) == 0, "Ctrl-C stops pdx dev and its PostgreSQL cleanly")
            #expect(try String(contentsOf: log, encoding: .utf8).contains("stopping PostgreSQL"))

            // Again: the same data, the same keys, the demo market not loaded twice.
            let (second, resumed) = try await startDev(folder, apiPort: port, log: log)
            #expect(!resumed.contains("demo market: loaded"))
            for key in keys { #expect(resumed.contains(key.trimmingCharacters(in: .whitespaces)), "\(key) kept") }
            #expect(resumed.contains("admin key:  \(adminKey)"), "the administrator's key kept")
            #expect(try await stop(second) == 0)
        }

        @Test func pdxDemoTellsTheStoryAndExitsZeroWhenEveryStepHolds() async throws {
            let (status, output) = try await run(try pdxExecutable(), ["demo", "--log-level", "error"])
            #expect(status == 0, "\(output)")
            #expect(output.contains("steps as the rules say: 20 of 20"))
            for step in ["single mode keeps its scope", "public welfare is free", "a lower cap reprices open quotes", "an operator finds a demand on its board",
                         "an operator proposes by hand", "a buyer lists a derived product", "a direct purchase", "revocation delists"] {
                #expect(output.contains(step))
            }
        }

        @Test func pdxDemoRefusesAURLWithoutTheStacksDatabase() async throws {
            // (CI has no DATABASE_URL; the refusal is about --url without one.)
            let (status, _, error) = try await runBuilt("pdx", ["demo", "--url", "http://127.0.0.1:8080"])
            #expect(status != 0 && error.contains("--url needs the stack's database"))
            let (badStatus, _, badError) = try await runBuilt("pdx", ["demo", "--url", "ftp://x", "--database-url", "postgresql://x"])
            #expect(badStatus != 0 && badError.contains("--url must be an http or https URL"))
        }
    }
}

/// Runs a program to its end and returns its status and output (stdout and stderr), waiting without
/// blocking a thread of the suite's pool: the pool has two threads on this machine, and a blocked one
/// starves everything else (the worker tests' lease heartbeats among them).
func run(_ executable: URL, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let log = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pdx-test-run-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    let process = ChildProcess()
    process.executableURL = executable
    process.arguments = arguments
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = ContinuousClock.now + .seconds(180)
    while process.isRunning {
        if ContinuousClock.now > deadline { process.terminate() }
        try await Task.sleep(for: .milliseconds(50))
    }
    try handle.close()
    return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite struct ProgressLineTests {
    final class Written: @unchecked Sendable {
        let lock = NSLock()
        var text = ""
        func add(_ more: String) { lock.withLock { text += more } }
    }

    @Test func onATerminalOneLineIsRewrittenInPlace() {
        let written = Written()
        let progress = ProgressLine("seed", onTerminal: true, write: written.add)
        progress.update("1/3 products")
        progress.update("2/3 products")
        progress.finish("3 products")
        #expect(written.text.components(separatedBy: "\r\u{1B}[K").count == 4, "every state overwrites the line")
        #expect(written.text.hasSuffix("\n") && written.text.components(separatedBy: "\n").count == 2, "one line in the end")
        #expect(written.text.contains("seed: 3 products ("))
    }

    @Test func elsewherePlainLinesAtMostOneASecond() {
        let written = Written()
        let progress = ProgressLine("migrate", onTerminal: false, write: written.add)
        for index in 1...50 { progress.update("\(index)/50") }
        progress.finish("applied 50")
        let lines = written.text.split(separator: "\n")
        #expect(!written.text.contains("\r") && !written.text.contains("\u{1B}"))
        #expect(lines.first == "migrate: 1/50" && lines.count < 10, "\(lines)")
        #expect(lines.last?.hasPrefix("migrate: applied 50 (") == true)
    }
}

extension HeavyProcesses {
    @Suite struct BareWorkerTests {
        /// `pdx work` with no options serves every queue of the market's jobs: it matches an open demand.
        @Test func aBarePdxWorkMatchesDemands() async throws {
            try await TestDatabase.withDatabase { configuration throws in
                let url = TestDatabase.connectionString(configuration)
                let demander = try await ChaosMarket.seed(url)
                let pool = PostgresPool(configuration: .init(connection: PostgresConfiguration(connectionString: url), maxConnections: 2))
                defer { Task { await pool.close() } }
                let store = MarketStore(pool: pool)
                let demand = try await store.postDemand(
                    DemandRequest(title: "物流路径优化", sector: "transport", scenario: "logistics", purpose: .industryDevelopment,
                                  regions: [try RegionCode("310000")], fieldsWanted: ["road_id"], quantity: 10, budgetFen: 100_000,
                                  deliveryModes: [.api], expiresAt: Date() + 86_400),
                    demander: demander.id, open: true, by: .party(demander.id))
                let process = ChildProcess()
                process.executableURL = try pdxExecutable()
                process.arguments = ["work", "--database-url", url, "--log-level", "error"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                defer { if process.isRunning { process.terminate() } }
                let deadline = ContinuousClock.now + .seconds(60)
                while try await store.matches(MatchFilter(demandID: demand, limit: 10)).isEmpty {
                    guard ContinuousClock.now < deadline, process.isRunning else { throw TestFailure("no proposal for the demand within a minute") }
                    try await Task.sleep(for: .milliseconds(100))
                }
                kill(process.processIdentifier, SIGTERM)
                while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
                #expect(process.terminationStatus == 0)
            }
        }
    }
}
