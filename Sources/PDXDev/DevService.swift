public import Foundation
import JobQueue
import LocalPostgres
public import Logging
import Market
import MarketAPI
import MarketStore
import MarketWorkers
import PDXCommandLine
import Postgres
public import Prometheus
public import ServiceLifecycle
import MarketJobs

/// `pdx dev` as a service: prepares the database, loads the demo market once, serves the API and runs
/// workers in this process until Ctrl-C (or SIGTERM), then stops the private cluster if it started it.
public struct DevService: Service {
    /// What runs beside the database.
    public struct Serving: Sendable {
        public var host: String
        /// nil: no API.
        public var port: Int?
        public var workers: Int
        public var metrics: PrometheusCollectorRegistry?

        public init(host: String = "127.0.0.1", port: Int? = 8080, workers: Int = 2, metrics: PrometheusCollectorRegistry? = nil) {
            self.host = host
            self.port = port
            self.workers = workers
            self.metrics = metrics
        }
    }

    let environment: DevEnvironment
    let serving: Serving
    let logger: Logger
    let say: @Sendable (String) -> Void

    public init(environment: DevEnvironment, serving: Serving = .init(), logger: Logger, say: @escaping @Sendable (String) -> Void) {
        self.environment = environment
        self.serving = serving
        self.logger = logger
        self.say = say
    }

    /// Where the demo API keys are kept between runs (they are shown once by the store, so `pdx dev` keeps
    /// them for the next run): `<folder>/demo-keys.json`, readable by its owner only.
    public static func keysFile(in folder: URL) -> URL { folder.appendingPathComponent("demo-keys.json") }

    public func run() async throws {
        let location = environment.options.databaseURL == nil
            ? "a private PostgreSQL under \(environment.options.folder.path)/postgres" : "DATABASE_URL"
        say("pdx dev: preparing \(location)…")
        let ready = try await environment.prepare()
        if let cluster = ready.cluster {
            say("  PostgreSQL \(describePostgresVersion(ready.serverVersion)) \(ready.startedCluster ? "started" : "was already running") in \(cluster.directory.path)")
        } else {
            say("  PostgreSQL \(describePostgresVersion(ready.serverVersion)) reached through DATABASE_URL")
        }
        say("  migrations: \(ready.applied.count) applied now, \(ready.totalMigrations) in all")
        // Never echo DATABASE_URL: it may hold a password.
        say("  connect:    psql \(ready.cluster == nil ? "\"$DATABASE_URL\"" : "\"\(ready.configuration.connectionString)\"")")
        do {
            try await serve(ready)
        } catch {
            try? await stop(ready)
            throw error
        }
        try await stop(ready)
    }

    private func serve(_ ready: DevEnvironment.Ready) async throws {
        var connection = ready.configuration
        connection.applicationName = "pdx dev api"
        // Resolved once the server listens: it prints the URL and the keys then.
        let listening = AsyncStream.makeStream(of: Int.self)
        let server = try APIServer(database: connection, options: .init(
            host: serving.host, port: serving.port ?? 0, rateLimit: RateLimit(perSecond: 100, burst: 200), webhooks: .development,
            metrics: serving.metrics, consoleSecureCookies: false), logger: logger, onListening: { port in listening.continuation.yield(port) })
        let store = server.store
        if try await DemoMarket.load(into: store) != nil { say("  demo market: loaded (parties, resources, authorizations, products, demands)") }
        let keys = try await demoKeys(store)
        let adminKey = try await administratorKey(store)
        // The pool always runs (the demo keys were made through it); the API only with a port.
        var services = serving.port == nil ? Array(server.services.prefix(1)) : server.services
        var workers = JobWorker.Configuration(queues: Dictionary(uniqueKeysWithValues: MarketWorkers.queues.map { ($0, 50) }))
        for index in 0..<serving.workers {
            workers.workerID = "pdx-dev-\(ProcessInfo.processInfo.processIdentifier)-\(index + 1)"
            workers.maintenance.enabled = index == 0
            let process = try WorkerProcess(databaseURL: ready.configuration.connectionString, configuration: workers, diagnostics: false,
                                            webhooks: .development, logger: logger)
            services.append(.init(service: process.pool))
            if let catalogue = process.catalogue { services.append(.init(service: catalogue)) }
            services.append(.init(service: process.worker))
        }
        if serving.port != nil {
            let host = serving.host == "0.0.0.0" ? "127.0.0.1" : serving.host
            // "Ready" only once the server accepts connections: a script that waits for the line may call at once.
            Task { [keys] in
                for await port in listening.stream {
                    announce(url: "http://\(host):\(port)", keys: keys, adminKey: adminKey, startedCluster: ready.startedCluster)
                    break
                }
            }
        } else {
            announce(url: nil, keys: keys, adminKey: adminKey, startedCluster: ready.startedCluster)
        }
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        try await group.run()
        listening.continuation.finish()
    }

    /// What `pdx dev` prints when it is ready: the API's URL, the demo keys and examples (`url` nil: no API).
    private func announce(url: String?, keys: [(role: PartyKind, token: String, name: String)], adminKey: String, startedCluster: Bool) {
        if let url {
            say("  API:        \(url)   (contract: \(url)/openapi.yaml)")
            say("  console:    \(url)/console   (sign in with the admin key, or with a demo key below)")
            say("  admin key:  \(adminKey)")
            say("  workers:    \(serving.workers)")
            say("  demo keys (also in \(Self.keysFile(in: environment.options.folder).path)):")
            for key in keys { say("    \(key.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(key.token)   \(key.name)") }
            let demander = keys.first { $0.role == .demander }?.token ?? ""
            let agency = keys.first { $0.role == .agency }?.token ?? ""
            say("  try:")
            say("    curl -s '\(url)/v1/products?q=traffic'")
            say("    curl -s -H 'Authorization: Bearer \(demander)' '\(url)/v1/demands'")
            say("    curl -s -H 'Authorization: Bearer \(agency)' '\(url)/v1/authorizations'")
            say("    curl -s '\(url)/v1/products?q=sandbox'")
            say("    (then GET /v1/products/{id}/sandbox with a key: what an analysis of that dataset may ask; see the README's sandbox section)")
        } else {
            say("  workers:    \(serving.workers) (no API: --api-port none)")
        }
        say("pdx dev is ready. Press Ctrl-C to stop\(startedCluster ? " (PostgreSQL stops with it)" : "").")
    }

    private func stop(_ ready: DevEnvironment.Ready) async throws {
        guard ready.startedCluster, let cluster = ready.cluster else { return }
        say("pdx dev: stopping PostgreSQL…")
        try await cluster.stop()
        say("pdx dev: stopped. Run it again to resume with the same data, or with --reset to start over.")
    }

    /// One key per role for the demo parties: the ones kept from an earlier run while they still work,
    /// else new ones (kept for the next run).
    /// The development administrator's key: the one kept in `.pdx/admin-key` while it still works, else a new one.
    private func administratorKey(_ store: MarketStore) async throws -> String {
        let file = environment.options.folder.appendingPathComponent("admin-key")
        if let kept = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           case .success = try await store.checkAdminKey(kept) {
            return kept
        }
        let token = try await store.createAdminKey(name: "dev", label: "pdx dev", by: .administrator("pdx dev")).token
        try FileManager.default.createDirectory(at: environment.options.folder, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: file.path, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        return token
    }

    private func demoKeys(_ store: MarketStore) async throws -> [(role: PartyKind, token: String, name: String)] {
        guard let players = try await DemoMarket.rolePlayers(in: store) else { return [] }
        let file = Self.keysFile(in: environment.options.folder)
        let kept = (try? JSONDecoder().decode([String: String].self, from: Data(contentsOf: file))) ?? [:]
        var keys: [(role: PartyKind, token: String, name: String)] = []
        for player in players {
            if let token = kept[player.role.rawValue], try await store.authenticate(apiKey: token)?.id == player.id {
                keys.append((player.role, token, player.name))
            } else {
                let token = try await store.createAPIKey(party: player.id, label: "pdx dev demo", by: .administrator("pdx dev")).token
                keys.append((player.role, token, player.name))
            }
        }
        try FileManager.default.createDirectory(at: environment.options.folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(Dictionary(uniqueKeysWithValues: keys.map { ($0.role.rawValue, $0.token) }))
        guard FileManager.default.createFile(atPath: file.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        return keys
    }
}
