public import Logging
import MarketConsole
public import MarketStore
public import Postgres
public import Prometheus
public import ServiceLifecycle

/// The API as a process runs it (`pdx serve`, `pdx dev`): a pool of database connections, the catalogue
/// cache and its listener (when it has a capacity), and the application, as services in the order they
/// start. Its store may be used before they run (the pool connects on demand).
public struct APIServer: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        /// Database connections for requests.
        public var maxConnections: Int
        public var rateLimit: RateLimit?
        /// Listed products kept in memory; 0: none.
        public var catalogueCache: Int
        public var webhooks: WebhookPolicy
        public var metrics: PrometheusCollectorRegistry?
        /// The console's cookies are `Secure` (HTTPS only); false only for development over plain HTTP.
        public var consoleSecureCookies: Bool

        public init(host: String = "127.0.0.1", port: Int = 8080, maxConnections: Int = 16,
                    rateLimit: RateLimit? = RateLimit(perSecond: 100, burst: 200), catalogueCache: Int = 50_000,
                    webhooks: WebhookPolicy = WebhookPolicy(), metrics: PrometheusCollectorRegistry? = nil,
                    consoleSecureCookies: Bool = true) {
            self.consoleSecureCookies = consoleSecureCookies
            self.host = host
            self.port = port
            self.maxConnections = maxConnections
            self.rateLimit = rateLimit
            self.catalogueCache = catalogueCache
            self.webhooks = webhooks
            self.metrics = metrics
        }
    }

    public let store: MarketStore
    public let services: [ServiceGroupConfiguration.ServiceConfiguration]

    /// `onListening` runs once the server accepts connections, with its port.
    public init(database: PostgresConfiguration, options: Options, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        var connection = database
        // A request's transaction whose server died or hung mid-way ends on its own, releasing its locks
        // (an Idempotency-Key's among them) instead of holding them until TCP notices.
        connection.sessionSettings["idle_in_transaction_session_timeout"] = "60s"
        let pool = PostgresPool(configuration: .init(connection: connection, maxConnections: options.maxConnections), logger: logger)
        let cache = options.catalogueCache > 0 ? try CatalogueCache(database: connection, capacity: options.catalogueCache, logger: logger) : nil
        let access = try AccessCache(database: connection, logger: logger)
        store = MarketStore(pool: pool)
        // The console's live pages hear of changes on a connection of their own.
        let listener = try PostgresListener(configuration: connection, logger: logger)
        let views = ProductViews(store: store, logger: logger)
        let configuration = APIConfiguration(rateLimit: options.rateLimit, webhooks: options.webhooks, metrics: options.metrics, catalogueCache: cache,
                                             accessCache: access, console: ConsoleConfiguration(secureCookies: options.consoleSecureCookies, listener: listener),
                                             productViews: views)
        let application = try MarketAPI.application(store: store, configuration: configuration, host: options.host, port: options.port,
                                                logger: logger, onListening: onListening)
        services = [.init(service: pool)] + (cache.map { [.init(service: $0)] } ?? []) + [.init(service: access), .init(service: listener), .init(service: views)]
            + [.init(service: application, successTerminationBehavior: .gracefullyShutdownGroup)]
    }
}
