import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LocalPostgres
import Logging
import Market
import MarketStore
import Migrations
import PDXTestSupport
import Postgres
import Synchronization
import Testing

extension HeavyProcesses {
    /// A crash never does a request twice: `POST /v1/demands` with an `Idempotency-Key` creates its demand
    /// once, whatever dies in between. Real processes (two `pdx serve`, three `pdx work`) on a durable
    /// cluster of the test's own; 3,000 demands, each retried with its own key until it gets its 201, while
    /// the APIs are SIGKILLed and PostgreSQL is restarted with an immediate shutdown, three times each.
    ///
    /// The key and its response are recorded in the transaction of the request's action, so a crash leaves
    /// both or neither: a retry replays the response or runs the request for the first time, at once. No
    /// key is ever left claimed without a response (which answered 409 for a minute, then ran the request
    /// again: 2 to 17 duplicates a run before the fix), so the clients never see a 409.
    @Suite struct ChaosTests {
        static let demands = 3_000
        static let clients = 16
        /// Bounds the posting (about 25 s alone), with room for a machine that runs the rest of the suite
        /// beside this test.
        static let deadline: Duration = .seconds(300)

        @Test func aCrashNeverCreatesADemandTwice() async throws {
            let begun = ContinuousClock.now
            try await ChaosDatabase.with { database in
                let demander = try await ChaosMarket.seed(database.url)
                try await ChaosProcesses.with(database.url) { processes in
                    let ports = try await processes.startAPIs(2)
                    try await processes.startWorkers(3)
                    let demands = ChaosDemand.all(Self.demands)
                    let clients = ChaosClients(demands, ports: ports, apiKey: demander.key)
                    let setup = ContinuousClock.now - begun
                    let events = try await post(with: clients, while: processes, database: database)
                    let gone = processes.exited()
                    let stored = try await database.demands(of: demander.id)
                    report(clients, stored: stored, events: [("setup (cluster, market, processes)", setup)] + events)
                    check(demands, answers: clients.answers, stored: stored, unexpected: clients.figures.unexpected)
                    #expect(clients.figures.inUse == 0, "a retry never waits out a key left claimed (409 idempotency_key_in_use)")
                    #expect(gone.isEmpty, "APIs and workers ride through the crashes, but these exited:\n\(gone)")
                }
            }
        }

        /// Posts every demand while the chaos runs beside it; returns when each key has its 201 (or the
        /// deadline passed), with the moments the chaos struck.
        func post(with clients: ChaosClients, while processes: ChaosProcesses, database: ChaosDatabase) async throws -> [(String, Duration)] {
            let started = ContinuousClock.now
            let deadline = started + Self.deadline
            return try await withThrowingTaskGroup(of: [(String, Duration)].self) { group in
                group.addTask {
                    await clients.post(concurrency: Self.clients, until: deadline)
                    return [("last answer", clients.lastAnswer - started), ("elapsed", ContinuousClock.now - started)]
                }
                group.addTask {
                    try await unleashChaos(on: processes, database: database, clients: clients, until: deadline)
                        .map { ($0.0, $0.1 - started) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }

        /// What strikes, and after how many demands have their 201. One crash of each kind missed the bug in
        /// one run of four: a request was done twice only if the crash landed between its action's commit
        /// and its response's. Six crashes, alternating APIs, made a run without a duplicate unlikely (the
        /// lowest count seen before the fix was 2); they come in the first 60%, with the rest of the posting
        /// after them.
        enum Strike { case killAPI(Int), restartDatabase }
        static let strikes: [(after: Int, Strike)] = [
            (demands / 10, .killAPI(0)), (2 * demands / 10, .restartDatabase), (3 * demands / 10, .killAPI(1)),
            (4 * demands / 10, .restartDatabase), (5 * demands / 10, .killAPI(0)), (6 * demands / 10, .restartDatabase),
        ]

        /// Runs the strikes in the middle of the posting: an API SIGKILLed in the middle of its requests and
        /// started again a moment later on the same port; PostgreSQL restarted with an immediate shutdown
        /// (every connection cut, no checkpoint, crash recovery at start). Returns when each struck.
        func unleashChaos(on processes: ChaosProcesses, database: ChaosDatabase, clients: ChaosClients,
                          until deadline: ContinuousClock.Instant) async throws -> [(String, ContinuousClock.Instant)] {
            var events: [(String, ContinuousClock.Instant)] = []
            for (after, strike) in Self.strikes {
                try await clients.waitUntilCreated(after, until: deadline)
                switch strike {
                case .killAPI(let index):
                    events.append(("SIGKILL serve-\(index) after \(after) demands", .now))
                    try await processes.sigkill("serve-\(index)")
                    try await Task.sleep(for: .milliseconds(300))
                    try await processes.restartAPI(index)
                    events.append(("serve-\(index) ready again", .now))
                case .restartDatabase:
                    events.append(("PostgreSQL stopped (immediate) after \(after) demands", .now))
                    try await database.restartImmediately()
                    events.append(("PostgreSQL started again", .now))
                }
            }
            return events
        }

        /// The figures, one `chaos: <name>: <value>` line each, for the test's output.
        func report(_ clients: ChaosClients, stored: [(String, UUID)], events: [(String, Duration)]) {
            let figures = clients.figures
            let answered = clients.answers.count
            let lines: [(String, String)] = [
                ("keys answered 201", "\(answered) of \(Self.demands)"),
                ("demands stored", "\(stored.count)"),
                ("duplicates", "\(stored.count - Set(stored.map(\.0)).count)"),
                ("requests", "\(figures.requests)"),
                ("retries", "\(figures.requests - answered - figures.unexpected.count)"),
                ("replays (201 with Idempotent-Replayed)", "\(figures.replays)"),
                ("409 idempotency_key_in_use", "\(figures.inUse)"),
                ("keys that waited out a dead request's claim (409)", "\(figures.keysInUse)"),
                ("5xx", "\(figures.serverErrors)"),
                ("connection errors", "\(figures.connectionErrors)"),
                ("timeouts", "\(figures.timeouts)"),
                ("other answers", "\(figures.unexpected.count)"),
            ] + events.map { ($0.0, String(format: "%.1f s", $0.1 / .seconds(1))) }
            for (name, value) in lines { print("chaos: \(name): \(value)") }
        }

        /// Exactly one demand per key, the one its 201 named.
        func check(_ demands: [ChaosDemand], answers: [Int: UUID], stored: [(String, UUID)], unexpected: [String]) {
            var byTitle: [String: [UUID]] = [:]
            for (title, id) in stored { byTitle[title, default: []].append(id) }
            #expect(answers.count == demands.count,
                    "only \(answers.count) of \(demands.count) keys got their 201 within \(Self.deadline); a key left answering 409 or 5xx")
            #expect(unexpected.count == 0, "answers a retry cannot fix (\(unexpected.count)), first ones:\n\(unexpected.prefix(5).joined(separator: "\n"))")
            // Counts, not the arrays: the messages name what matters, without a dump of every value.
            let duplicates = byTitle.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }
            #expect(duplicates.count == 0, """
                \(duplicates.reduce(0) { $0 + $1.value.count - 1 }) extra demands: \(duplicates.count) keys made their demand more than once \
                (\(duplicates.prefix(20).map { "\($0.key) ×\($0.value.count)" }.joined(separator: ", ")))
                """)
            #expect(stored.count == demands.count, "\(stored.count) demands stored for \(demands.count) keys")
            let wrong = demands.filter { demand in answers[demand.index].map { byTitle[demand.title] != [$0] } ?? false }
            #expect(wrong.count == 0, """
                \(wrong.count) keys' 201 did not name the one demand stored with their title: \
                \(wrong.prefix(10).map(\.title).joined(separator: ", "))
                """)
        }
    }
}

// MARK: - The database

/// A durable cluster of the test's own (the shared test server cannot be restarted mid-run), with one database.
struct ChaosDatabase: Sendable {
    let cluster: LocalPostgres
    /// The connection string of the `chaos` database.
    let url: String

    /// Starts the cluster, runs `body`, then destroys the cluster, whatever happens (and, should this
    /// process die first, a watchdog does).
    static func with<R: Sendable>(_ body: (ChaosDatabase) async throws -> R) async throws -> R {
        let cluster = LocalPostgres(directory: URL(fileURLWithPath: "/tmp/pdx-chaos-\(UUID().uuidString.prefix(8))"), profile: .dev)
        do {
            let endpoint = try await cluster.start()
            try cluster.removeWhenProcessExits(pid: getpid())
            lowerPriority(of: cluster)
            try await withConnection(PostgresConfiguration(connectionString: endpoint.connectionString())) { connection in
                try await connection.execute("CREATE DATABASE chaos")
            }
            let result = try await body(ChaosDatabase(cluster: cluster, url: endpoint.connectionString(database: "chaos")))
            try await cluster.destroy()
            return result
        } catch {
            try? await cluster.destroy()
            throw error
        }
    }

    /// A crash of the server as the clients see it: every connection cut, no checkpoint, recovery on start.
    func restartImmediately() async throws {
        try await cluster.stop(immediate: true)
        try await cluster.start()
        lowerPriority(of: cluster)
    }

    /// Every demand of `demander`: title and id.
    func demands(of demander: UUID) async throws -> [(String, UUID)] {
        try await withConnection(PostgresConfiguration(connectionString: url)) { connection in
            try await connection.query("SELECT title, id FROM demands WHERE demander_id = \(demander)").decode(String.self, UUID.self)
        }
    }
}

/// The market of the API tests, made small: an agency, an operator with an authorization and a listed
/// product (transport, Shanghai, api delivery), and the demander who posts.
enum ChaosMarket {
    static func seed(_ url: String) async throws -> (id: UUID, key: String) {
        var logger = Logger(label: "chaos")
        logger.logLevel = .critical
        let configuration = PostgresConfiguration(connectionString: url)
        try await withConnection(configuration) { connection in _ = try await Migrator.embedded(logger: logger).migrate(on: connection) }
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 2), logger: logger)
        do {
            let demander = try await seed(MarketStore(pool: pool))
            await pool.close()
            return demander
        } catch {
            await pool.close()
            throw error
        }
    }

    private static func seed(_ store: MarketStore) async throws -> (id: UUID, key: String) {
        let admin = Actor.administrator("chaos")
        func party(_ kind: PartyKind, _ name: String) async throws -> Party {
            let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
            let code = try CreditCode.completing("91310000" + String((0..<9).map { _ in alphabet.randomElement()! })).value
            return try await store.registerParty(NewParty(kind: kind, name: name, creditCode: code, regionCode: "310000"), by: admin)
        }
        let agency = try await party(.agency, "上海市大数据中心")
        let operatorParty = try await party(.operator, "数据运营甲")
        let demander = try await party(.demander, "某银行")
        let resource = try await store.registerResource(NewResource(title: "道路流量", sector: "transport", regionCode: "310000", grade: .general),
                                                        agency: agency.id, by: admin)
        let grant = try await store.grant(Authorization(agencyID: agency.id, operatorID: operatorParty.id, sectors: ["transport"],
                                                        regions: [try RegionCode("310000")], scenarios: ["logistics"], mode: .multi,
                                                        validFrom: Date() - 3600, validUntil: Date() + 86_400 * 300), by: admin)
        let version = ProductVersion(title: "路况指数 traffic index", sector: "transport", regions: [try RegionCode("310000")],
                                     scenarios: ["logistics"], fields: ["road_id", "speed"], deliveryModes: [.api], chargeUnit: .call,
                                     listPriceFen: 50, sourceResourceIDs: [resource.id])
        let product = try await store.createProduct(version, operator: operatorParty.id, authorization: grant.id, by: .party(operatorParty.id))
        try await store.list(product.id, by: .party(operatorParty.id))
        return (demander.id, try await store.createAPIKey(party: demander.id, label: "chaos", by: admin).token)
    }
}

// MARK: - The processes

/// The `pdx` processes of the run, each with its output in a log file of its own, stopped at the end
/// whatever happens. Nothing here blocks a thread: the suite's pool has two on this machine.
final class ChaosProcesses: Sendable {
    let executable: URL
    let databaseURL: String
    let folder: URL
    private let running = Mutex<[String: ChildProcess]>([:])
    private let ports = Mutex<[String: Int]>([:])

    private init(executable: URL, databaseURL: String, folder: URL) {
        self.executable = executable
        self.databaseURL = databaseURL
        self.folder = folder
    }

    /// The pids of the running children, kept for the watchdog.
    private var pidFile: URL { folder.appendingPathComponent("children.pids") }

    static func with<R: Sendable>(_ databaseURL: String, _ body: (ChaosProcesses) async throws -> R) async throws -> R {
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pdx-chaos-processes-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let processes = ChaosProcesses(executable: try pdxExecutable(), databaseURL: databaseURL, folder: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        try processes.killChildrenIfThisProcessDies()
        do {
            let result = try await body(processes)
            await processes.stopAll()
            return result
        } catch {
            await processes.stopAll()
            throw error
        }
    }

    /// `pdx serve` processes on free ports of loopback, without a rate limit; returns when each is ready.
    func startAPIs(_ count: Int) async throws -> [Int] {
        var taken: [Int] = []
        for index in 0..<count {
            let port = try freePort(avoiding: taken)
            taken.append(port)
            ports.withLock { $0["serve-\(index)"] = port }
            try await startAPI(index)
        }
        return taken
    }

    /// Starts API `index` again on its port.
    func restartAPI(_ index: Int) async throws { try await startAPI(index) }

    private func startAPI(_ index: Int) async throws {
        let name = "serve-\(index)"
        guard let port = ports.withLock({ $0[name] }) else { throw TestFailure("no port chosen for \(name)") }
        try start(name, ["serve", "--database-url", databaseURL, "--host", "127.0.0.1", "--port", "\(port)", "--rate-limit", "0",
                         "--log-level", "warning"])
        try await waitUntilReady(name, port: port)
    }

    /// `pdx work` processes for the market's queues; returns when each listens for jobs.
    func startWorkers(_ count: Int, options: [String] = []) async throws {
        for index in 0..<count {
            try start("work-\(index)", ["work", "--database-url", databaseURL, "--queues", "default,match", "--shutdown-timeout", "2s",
                                        "--log-level", "warning"] + options)
        }
        let deadline = ContinuousClock.now + .seconds(90)
        try await withConnection(PostgresConfiguration(connectionString: databaseURL)) { connection in
            while try await connection.query("""
                SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pdx work%' AND query ILIKE 'LISTEN%'
                """).scalar(Int64.self) ?? 0 < Int64(count) {
                let gone = exited()
                guard gone.isEmpty else { throw TestFailure("a worker exited before it listened:\n\(gone)") }
                guard ContinuousClock.now < deadline else { throw TestFailure("the workers did not listen within 90 s:\n\(logTails())") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// SIGKILL: the process dies wherever it is, its requests half done.
    func sigkill(_ name: String) async throws {
        guard let process = running.withLock({ $0.removeValue(forKey: name) }) else { throw TestFailure("\(name) is not running") }
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        writePIDs()
    }

    /// The children that are no longer running, each with the end of its log (empty: all run).
    func exited() -> String {
        let gone = running.withLock { $0.filter { !$0.value.isRunning }.map { ($0.key, $0.value.terminationStatus) } }
        return gone.sorted { $0.0 < $1.0 }.map { "\($0.0) (exit \($0.1)):\n\(logTail($0.0))" }.joined(separator: "\n")
    }

    private func start(_ name: String, _ arguments: [String]) throws {
        let log = folder.appendingPathComponent("\(name).log")
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        let process = ChildProcess()
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try handle.close()
        lowerPriority(process.processIdentifier)
        running.withLock { $0[name] = process }
        writePIDs()
    }

    private func waitUntilReady(_ name: String, port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            guard running.withLock({ $0[name]?.isRunning }) == true else { throw TestFailure("pdx \(name) exited before it was ready:\n\(logTail(name))") }
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/readyz")!)
            request.timeoutInterval = 2
            if let (_, response) = try? await URLSession.shared.data(for: request), (response as? HTTPURLResponse)?.statusCode == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("pdx \(name) was not ready within 90 s:\n\(logTail(name))")
    }

    /// SIGTERM to every child, SIGKILL to any still running 20 s later.
    private func stopAll() async {
        let all = running.withLock { running in
            defer { running = [:] }
            return Array(running.values)
        }
        for process in all where process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + .seconds(20)
        while all.contains(where: \.isRunning), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        for process in all where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let killed = ContinuousClock.now + .seconds(10)
        while all.contains(where: \.isRunning), ContinuousClock.now < killed { try? await Task.sleep(for: .milliseconds(10)) }
        try? FileManager.default.removeItem(at: pidFile)
    }

    private func writePIDs() {
        let pids = running.withLock { $0.values.map { "\($0.processIdentifier)" } }
        try? (pids.joined(separator: " ") + "\n").write(to: pidFile, atomically: true, encoding: .utf8)
    }

    /// Should this test process die before its teardown (a crash), its children would live on: a detached
    /// shell waits for it to exit and kills those the pid file lists. Teardown deletes the file first.
    private func killChildrenIfThisProcessDies() throws {
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            if [ -f \(quoted(pidFile.path)) ]; then kill -9 $(cat \(quoted(pidFile.path))) 2>/dev/null; fi
            rm -rf \(quoted(folder.path))
            """
        let watchdog = ChildProcess()
        // In a session of its own, so that the Ctrl-C that stops the test run does not stop it too.
        if let setsid = ["/usr/bin/setsid", "/bin/setsid"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            watchdog.executableURL = URL(fileURLWithPath: setsid)
            watchdog.arguments = ["/bin/sh", "-c", script]
        } else {
            watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
            watchdog.arguments = ["-c", script]
        }
        watchdog.standardInput = FileHandle.nullDevice
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()
    }

    private func logTail(_ name: String) -> String {
        let text = (try? String(contentsOf: folder.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    private func logTails() -> String {
        running.withLock { $0.keys.sorted() }.map { "\($0):\n\(logTail($0))" }.joined(separator: "\n")
    }
}

/// Nice 10 for the chaos's own load: beside the rest of the suite (whose leases of a few seconds must not
/// starve) the chaos only goes slower, and alone it makes no difference.
private func lowerPriority(_ pid: Int32) {
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(pid), 10)
}

/// The postmaster passes its niceness to the backends it starts from then on; those started in the moment
/// since it started (the processes reconnect at once) are found in /proc by their parent.
private func lowerPriority(of cluster: LocalPostgres) {
    let file = cluster.dataDirectory.appendingPathComponent("postmaster.pid")
    guard let first = (try? String(contentsOf: file, encoding: .utf8))?.split(separator: "\n").first, let postmaster = Int32(first) else { return }
    lowerPriority(postmaster)
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        // /proc/<pid>/stat: "pid (name) state ppid ...", the name possibly with spaces.
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let nameEnd = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
        if fields.count > 1, Int32(fields[1]) == postmaster { lowerPriority(pid) }
    }
}

/// A TCP port free on loopback now, below Linux's ephemeral range (32768 and up), so that no outgoing
/// connection takes it while its API is down between a SIGKILL and the restart.
private func freePort(avoiding taken: [Int]) throws -> Int {
    for _ in 0..<100 {
        let port = Int.random(in: 20_000..<32_000)
        if !taken.contains(port), canBind(port) { return port }
    }
    throw TestFailure("no free TCP port on 127.0.0.1 between 20000 and 32000")
}

private func canBind(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

// MARK: - The clients

/// One demand to post: key and body fixed once, so that every retry is the same request.
struct ChaosDemand: Sendable {
    let index: Int
    let title: String
    let key: String
    let body: Data

    static func all(_ count: Int) -> [ChaosDemand] {
        let run = UUID().uuidString.prefix(8).lowercased()
        let expires = ISO8601DateFormatter().string(from: Date() + 30 * 86_400)
        return (0..<count).map { index in
            let title = "chaos " + String(format: "%05d", index)
            let body = """
                {"title":"\(title)","sector":"transport","scenario":"logistics","purpose":"industry_development","regions":["310000"],\
                "fields_wanted":["road_id"],"quantity":1000,"budget_fen":100000,"delivery_modes":["api"],"expires_at":"\(expires)","open":true}
                """
            return ChaosDemand(index: index, title: title, key: "chaos-\(run)-\(index)", body: Data(body.utf8))
        }
    }
}

/// What the clients saw, counted per request.
struct ChaosFigures: Sendable {
    var requests = 0
    var replays = 0
    var inUse = 0
    /// Keys that got a 409 at least once (none since a key is recorded with its response).
    var keysInUse = 0
    var serverErrors = 0
    var connectionErrors = 0
    var timeouts = 0
    /// Answers a retry cannot fix (a 4xx other than 409 `idempotency_key_in_use`): the key is given up.
    var unexpected: [String] = []
}

/// Which demands wait to be posted: fresh ones in order, and ones to post again once their backoff has
/// passed. A client never waits on one key: a key to retry goes back here, and the client moves on.
struct ChaosBacklog {
    enum Next { case post(index: Int, attempt: Int), wait(until: ContinuousClock.Instant), finished }

    let count: Int
    private var nextFresh = 0
    private var retries: [(index: Int, attempt: Int, due: ContinuousClock.Instant)] = []
    private var inFlight = 0

    init(count: Int) { self.count = count }

    /// A due retry first (so that a key a crash interrupted gets done), else the next fresh demand.
    mutating func take(now: ContinuousClock.Instant) -> Next {
        if let position = retries.indices.min(by: { retries[$0].due < retries[$1].due }), retries[position].due <= now {
            let retry = retries.remove(at: position)
            inFlight += 1
            return .post(index: retry.index, attempt: retry.attempt)
        }
        if nextFresh < count {
            defer { nextFresh += 1 }
            inFlight += 1
            return .post(index: nextFresh, attempt: 0)
        }
        if retries.isEmpty && inFlight == 0 { return .finished }
        return .wait(until: retries.map(\.due).min() ?? now + .milliseconds(100))
    }

    mutating func done() { inFlight -= 1 }

    mutating func retry(_ index: Int, attempt: Int, due: ContinuousClock.Instant) {
        inFlight -= 1
        retries.append((index, attempt, due))
    }
}

/// Clients that post demands over both APIs, each retried with the same key and body until its 201.
final class ChaosClients: Sendable {
    enum Outcome {
        case created(UUID, replayed: Bool)
        case retry(Retry)
        case refused(String)
    }

    enum Retry { case inUse, serverError, connection, timeout }

    private struct State {
        var backlog: ChaosBacklog
        var figures = ChaosFigures()
        var answers: [Int: UUID] = [:]
        var waitedOut: Set<Int> = []
        var last = ContinuousClock.now
    }

    let demands: [ChaosDemand]
    let ports: [Int]
    let apiKey: String
    private let session: URLSession
    private let created = Atomic<Int>(0)
    private let state: Mutex<State>

    init(_ demands: [ChaosDemand], ports: [Int], apiKey: String) {
        self.demands = demands
        self.ports = ports
        self.apiKey = apiKey
        state = Mutex(State(backlog: ChaosBacklog(count: demands.count)))
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 5
        configuration.httpMaximumConnectionsPerHost = 32
        session = URLSession(configuration: configuration)
    }

    var figures: ChaosFigures { state.withLock { $0.figures } }
    /// The id each answered key's 201 carried, by demand index.
    var answers: [Int: UUID] { state.withLock { $0.answers } }
    /// When the last 201 came.
    var lastAnswer: ContinuousClock.Instant { state.withLock { $0.last } }

    /// Posts from `concurrency` clients, one request at a time each, until every demand has its 201 (or
    /// an answer no retry can change) or the deadline passed.
    func post(concurrency: Int, until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask { await self.client(until: deadline) }
            }
        }
        session.finishTasksAndInvalidate()
    }

    /// Returns once `count` demands have their 201.
    func waitUntilCreated(_ count: Int, until deadline: ContinuousClock.Instant) async throws {
        while created.load(ordering: .relaxed) < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("only \(created.load(ordering: .relaxed)) demands created, waiting for \(count)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func client(until deadline: ContinuousClock.Instant) async {
        while !Task.isCancelled, ContinuousClock.now < deadline {
            switch state.withLock({ $0.backlog.take(now: .now) }) {
            case .finished: return
            case .wait(let until): try? await Task.sleep(until: min(until, .now + .milliseconds(250)), clock: .continuous)
            case .post(let index, let attempt):
                // Attempts go to the APIs in turn, so that one that died is not asked again and again.
                let outcome = await send(demands[index], to: ports[(index + attempt) % ports.count])
                // A 5xx or a dead connection is the server's trouble, not the key's: this client waits out
                // the backoff too, so that an outage is not met with a storm of fresh requests.
                if let pause = record(outcome, index: index, attempt: attempt) { try? await Task.sleep(for: pause) }
            }
        }
    }

    /// Counts the outcome and puts a key to retry back in the backlog; returns the backoff when the
    /// server, rather than the key, was in trouble.
    private func record(_ outcome: Outcome, index: Int, attempt: Int) -> Duration? {
        if case .created = outcome { created.add(1, ordering: .relaxed) }
        return state.withLock { state -> Duration? in
            state.figures.requests += 1
            switch outcome {
            case .created(let id, let replayed):
                state.answers[index] = id
                state.last = .now
                if replayed { state.figures.replays += 1 }
                state.backlog.done()
                return nil
            case .refused(let answer):
                state.figures.unexpected.append("\(demands[index].key): \(answer)")
                state.backlog.done()
                return nil
            case .retry(let reason):
                switch reason {
                case .inUse:
                    state.figures.inUse += 1
                    if state.waitedOut.insert(index).inserted { state.figures.keysInUse += 1 }
                case .serverError: state.figures.serverErrors += 1
                case .connection: state.figures.connectionErrors += 1
                case .timeout: state.figures.timeouts += 1
                }
                let pause = Duration.milliseconds(Self.backoff(reason, attempt: attempt))
                state.backlog.retry(index, attempt: attempt + 1, due: .now + pause)
                return reason == .inUse ? nil : pause
            }
        }
    }

    /// Milliseconds before a retry, with jitter so that the clients do not retry in step. A crash is over
    /// in a second or a few: from 100 ms, doubling, up to a second. A held key stays held for up to a
    /// minute: every three seconds or so, which keeps the retries of dozens of such keys from loading a
    /// machine that runs the rest of the suite beside this test.
    static func backoff(_ reason: Retry, attempt: Int) -> Int {
        let base = reason == .inUse ? 3_000 : min(100 << min(attempt, 4), 1_000)
        return Int.random(in: base * 3 / 4...base * 5 / 4)
    }

    private func send(_ demand: ChaosDemand, to port: Int) async -> Outcome {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/demands")!)
        request.httpMethod = "POST"
        request.timeoutInterval = 5
        request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(demand.key, forHTTPHeaderField: "Idempotency-Key")
        request.httpBody = demand.body
        do {
            let (data, response) = try await session.data(for: request)
            guard let http = response as? HTTPURLResponse else { return .retry(.connection) }
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            switch http.statusCode {
            case 201:
                guard let id = (json?["id"] as? String).flatMap(UUID.init(uuidString:)) else {
                    return .refused("201 without an id: \(String(decoding: data.prefix(300), as: UTF8.self))")
                }
                return .created(id, replayed: http.value(forHTTPHeaderField: "Idempotent-Replayed") == "true")
            case 409 where json?["code"] as? String == "idempotency_key_in_use": return .retry(.inUse)
            case 500...599: return .retry(.serverError)
            default: return .refused("\(http.statusCode) \(String(decoding: data.prefix(300), as: UTF8.self))")
            }
        } catch let error as URLError where error.code == .timedOut {
            return .retry(.timeout)
        } catch {
            return .retry(.connection)
        }
    }
}
