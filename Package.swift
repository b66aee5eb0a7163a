// swift-tools-version: 6.1
import PackageDescription

/// One set of language features for every target (decided once; after changing it, delete `.build`).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "pdx",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pdx", targets: ["pdx"]),
        .executable(name: "pdxctl", targets: ["pdxctl"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "LocalPostgres", targets: ["LocalPostgres"]),
        // The API's Swift client, generated from openapi.yaml.
        .library(name: "PDXClient", targets: ["PDXClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client.git", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
    ],
    targets: [
        // libpq, found through pkg-config (apt: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "LocalPostgres", swiftSettings: swiftSettings),
        // The numbered files of sql/, embedded at build time, and the migrator that applies them.
        .target(
            name: "Migrations",
            dependencies: [
                "Postgres",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedSQLPlugin"]
        ),
        .executableTarget(name: "EmbedSQL", swiftSettings: swiftSettings),
        .plugin(name: "EmbedSQLPlugin", capability: .buildTool(), dependencies: ["EmbedSQL"]),
        .target(
            name: "JobQueue",
            dependencies: [
                "Postgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "Market", swiftSettings: swiftSettings),
        // Entitlement tokens (ES256 JWTs): signed by pdx, verified offline by gateways written in Swift.
        .target(name: "PDXTokens", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        // The market's job kinds and queue names: enqueued by MarketStore, run by MarketWorkers.
        .target(name: "MarketJobs", dependencies: ["JobQueue"], swiftSettings: swiftSettings),
        .target(
            name: "MarketStore",
            dependencies: ["Market", "MarketJobs", "Postgres", "JobQueue", "Migrations", "PDXTokens", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MarketWorkers",
            dependencies: [
                "Market", "MarketJobs", "MarketStore", "JobQueue", "Postgres", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // Deliveries connect to the address the webhook policy checked (dnsOverride), not a fresh lookup.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The console (/console): server-rendered pages for administrators, operators and agencies.
        .target(
            name: "MarketConsole",
            dependencies: [
                "Market", "MarketStore", "JobQueue", "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MarketAPI",
            dependencies: [
                "Market", "MarketStore", "MarketConsole", "Migrations", "Postgres", "PDXAPITypes", "PDXTokens",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The contract; what is generated from it is committed beside it (deploy/openapi/generate).
            exclude: ["openapi.yaml"],
            swiftSettings: swiftSettings
        ),
        // The contract's types, generated from openapi.yaml (deploy/openapi/generate): what the server
        // answers and the client reads.
        .target(
            name: "PDXAPITypes",
            dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            swiftSettings: swiftSettings
        ),
        // The client of the API: generated from openapi.yaml, over AsyncHTTPClient.
        .target(
            name: "PDXClient",
            dependencies: [
                "PDXAPITypes",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Option groups, parsing and output shared by the two executables (no server, no market).
        .target(
            name: "PDXCommandLine",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // pdx dev and pdx demo: a private cluster, the demo market, the API and workers in one process.
        .target(
            name: "PDXDev",
            dependencies: [
                "Postgres", "LocalPostgres", "Migrations", "JobQueue", "Market", "MarketJobs", "MarketStore", "MarketWorkers", "MarketAPI",
                "PDXCommandLine", "PDXClient", "PDXTokens",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // pdx bench: the client beside pgbench, the queue, matching at scale, the API under wrk.
        .target(
            name: "PDXBenchmarks",
            dependencies: [
                "Postgres", "LocalPostgres", "Migrations", "JobQueue", "Market", "MarketJobs", "MarketStore", "PDXClient", "PDXCommandLine", "PDXTokens",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "pdx",
            dependencies: [
                "Postgres", "LocalPostgres", "Migrations", "PDXDev", "PDXBenchmarks", "PDXCommandLine", "JobQueue", "MarketStore", "MarketAPI",
                "MarketWorkers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "pdxctl",
            dependencies: [
                "Postgres", "Migrations", "PDXCommandLine", "JobQueue", "Market", "MarketStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test support: a throwaway PostgreSQL cluster per test process and a database per suite.
        .target(
            name: "PDXTestSupport",
            dependencies: ["Postgres", "LocalPostgres", "Migrations", .product(name: "Logging", package: "swift-log")],
            path: "Tests/PDXTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "LocalPostgres", "PDXTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LocalPostgresTests",
            dependencies: ["LocalPostgres", "Postgres", "PDXTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PDXToolsTests",
            dependencies: [
                "PDXDev", "PDXBenchmarks", "PDXCommandLine", "Postgres", "LocalPostgres", "PDXTestSupport", "Market", "MarketStore", "Migrations",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "JobQueueTests",
            dependencies: [
                "JobQueue", "Postgres", "LocalPostgres", "PDXTestSupport", "PDXCommandLine", "pdx", "pdxctl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "MarketTests", dependencies: ["Market"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MarketAPITests",
            dependencies: [
                "MarketAPI", "MarketConsole", "MarketStore", "MarketJobs", "Market", "Postgres", "PDXTestSupport", "PDXClient", "PDXTokens", "LocalPostgres",
                "pdxctl", "JobQueue",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MarketStoreTests",
            dependencies: [
                "MarketStore", "MarketWorkers", "MarketJobs", "Market", "JobQueue", "Postgres", "LocalPostgres", "PDXTestSupport", "pdxctl",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MigrationsTests",
            dependencies: ["Migrations", "Postgres", "PDXTestSupport", "Market"],
            swiftSettings: swiftSettings
        ),
    ]
)
