// swift-tools-version: 6.1
import PackageDescription

/// What turns `Sources/MarketAPI/openapi.yaml` into the committed Swift code and JSON document
/// (`deploy/openapi/generate`; CI runs it and fails on any difference). Not part of the pdx build.
let package = Package(
    name: "pdx-openapi",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator.git", exact: "1.14.3"),
        .package(url: "https://github.com/jpsim/Yams.git", "5.0.1"..<"7.0.0"),
    ],
    targets: [
        // The contract as JSON, for /openapi.json and the tests, written as a Swift file beside the YAML one.
        .executableTarget(name: "openapi-json", dependencies: [.product(name: "Yams", package: "Yams")]),
    ]
)
