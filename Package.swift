// swift-tools-version:6.1
import PackageDescription

// graph-relay: an SMTP-to-Microsoft-Graph relay gateway.
//
// All TLS goes through the system OpenSSL (Debian libssl-dev): `COpenSSL` is the system-library
// target, `COpenSSLShims` wraps the macros Swift cannot import, `GraphRelayTLS` is the SwiftNIO
// handler built on both: no BoringSSL-based TLS package, no other HTTP client stack.
// Linux only (Glibc, the system OpenSSL, Debian's packaging), so no `platforms` entry.
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioEmbedded = Target.Dependency.product(name: "NIOEmbedded", package: "swift-nio")
let nioConcurrencyHelpers = Target.Dependency.product(name: "NIOConcurrencyHelpers", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let heapModule = Target.Dependency.product(name: "HeapModule", package: "swift-collections")
let dequeModule = Target.Dependency.product(name: "DequeModule", package: "swift-collections")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
// The metrics API (libraries emit through it) and its Prometheus backend (only the product module).
let coreMetrics = Target.Dependency.product(name: "CoreMetrics", package: "swift-metrics")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")

// Release builds optimize across our own modules (generic byte scanners in GraphRelayMIME are
// specialized where GraphRelay and GraphRelaySMTP call them, instead of running through witness
// tables). Debug builds, and so `make test`'s build time, are unaffected.
let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "graph-relay",
    products: [
        .executable(name: "graph-relay", targets: ["GraphRelayCLI"]),
        .executable(name: "graph-emulator", targets: ["GraphEmulatorCLI"]),
        // For the fuzz targets in Fuzz/ (a package of their own, built with sanitizers).
        .library(name: "GraphRelayTLS", targets: ["GraphRelayTLS"]),
        .library(name: "GraphRelaySMTP", targets: ["GraphRelaySMTP"]),
        .library(name: "GraphRelayMIME", targets: ["GraphRelayMIME"]),
        .library(name: "GraphRelay", targets: ["GraphRelay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
    ],
    targets: [
        // MARK: OpenSSL bindings
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "COpenSSLShims", dependencies: ["COpenSSL"]),

        // MARK: Product modules
        // The mail-format core: MIME structure, transfer encodings, header parameters.
        .target(name: "GraphRelayMIME", dependencies: [nioCore], swiftSettings: crossModule),
        .target(name: "GraphRelayTLS", dependencies: ["COpenSSL", "COpenSSLShims", nioCore, nioConcurrencyHelpers, logging], swiftSettings: crossModule),
        .target(name: "GraphRelaySMTP", dependencies: ["GraphRelayMIME", "GraphRelayTLS", nioCore, nioConcurrencyHelpers, nioPosix, logging, coreMetrics], swiftSettings: crossModule),
        .target(
            name: "GraphRelayGraph",
            dependencies: ["GraphRelayTLS", "GraphRelayMIME", "COpenSSL", "COpenSSLShims", nioCore, nioConcurrencyHelpers, nioPosix, nioHTTP1, logging, coreMetrics],
            swiftSettings: crossModule
        ),
        // The durable on-disk store: what is accepted, written and fsynced; recovery; queue operations.
        .target(name: "GraphRelaySpool", dependencies: ["GraphRelayMIME", nioCore, nioConcurrencyHelpers, nioPosix, logging], swiftSettings: crossModule),
        // Delivery from the spool: scheduler, agent, retry policy, token bucket, bounces.
        .target(name: "GraphRelayDelivery", dependencies: ["GraphRelaySpool", "GraphRelayMIME", nioCore, nioConcurrencyHelpers, nioPosix, logging, heapModule], swiftSettings: crossModule),
        .target(
            name: "GraphRelay",
            dependencies: [
                "GraphRelaySMTP", "GraphRelayGraph", "GraphRelayMIME", "GraphRelaySpool", "GraphRelayDelivery", "GraphRelayTLS", "COpenSSL",
                nioCore, nioConcurrencyHelpers, nioPosix, nioHTTP1, logging, yams, serviceLifecycle, unixSignals, coreMetrics, prometheus, dequeModule,
            ],
            swiftSettings: crossModule
        ),
        .executableTarget(name: "GraphRelayCLI", dependencies: ["GraphRelay", "GraphRelayMIME", "GraphRelaySpool", "GraphRelaySMTP", argumentParser, logging, nioCore, nioPosix, serviceLifecycle, unixSignals], swiftSettings: crossModule),

        // MARK: Graph emulator (test support and the demo's stand-in for Microsoft Graph)
        .target(
            name: "GraphEmulator",
            dependencies: ["GraphRelayMIME", "GraphRelayTLS", "COpenSSL", "COpenSSLShims", nioCore, nioConcurrencyHelpers, nioPosix, nioHTTP1, logging]
        ),
        .executableTarget(name: "GraphEmulatorCLI", dependencies: ["GraphEmulator", "GraphRelayTLS", argumentParser, logging, nioPosix]),

        // MARK: Tests
        .target(
            name: "GraphRelayTestSupport",
            dependencies: ["GraphRelayTLS", nioCore, nioPosix, logging],
            path: "Tests/GraphRelayTestSupport"
        ),
        .testTarget(
            name: "GraphRelayMIMETests",
            dependencies: ["GraphRelayMIME", nioCore]
        ),
        .testTarget(
            name: "GraphEmulatorTests",
            dependencies: ["GraphEmulator"]
        ),
        .testTarget(
            name: "GraphRelayTLSTests",
            dependencies: ["GraphRelayTLS", "GraphRelayTestSupport", nioCore, nioPosix, nioEmbedded]
        ),
        .testTarget(
            name: "GraphRelaySMTPTests",
            dependencies: ["GraphRelaySMTP", "GraphRelayMIME", "GraphRelayTLS", "GraphRelayTestSupport", nioCore, nioConcurrencyHelpers, nioPosix, nioEmbedded, logging]
        ),
        .testTarget(
            name: "GraphRelayGraphTests",
            dependencies: ["GraphRelayGraph", "GraphRelayMIME", "GraphEmulator", "GraphRelayTLS", "GraphRelayTestSupport", nioCore, nioPosix, nioEmbedded, nioHTTP1, logging]
        ),
        .target(
            name: "GraphRelaySpoolTestSupport",
            dependencies: ["GraphRelaySpool", nioCore, logging],
            path: "Tests/GraphRelaySpoolTestSupport"
        ),
        .testTarget(
            name: "GraphRelaySpoolTests",
            dependencies: ["GraphRelaySpool", "GraphRelaySpoolTestSupport", "GraphRelayTestSupport", nioCore, nioConcurrencyHelpers, nioPosix, logging]
        ),
        .testTarget(
            name: "GraphRelayDeliveryTests",
            dependencies: ["GraphRelayDelivery", "GraphRelaySpool", "GraphRelaySpoolTestSupport", "GraphRelayMIME", nioCore, nioConcurrencyHelpers, logging]
        ),
        .testTarget(
            name: "GraphRelayTests",
            dependencies: ["GraphRelay", "GraphEmulator", "GraphRelayGraph", "GraphRelayMIME", "COpenSSL", "GraphRelaySMTP", "GraphRelaySpool", "GraphRelayDelivery", "GraphRelayTLS", "GraphRelayTestSupport", nioCore, nioPosix, nioEmbedded, logging, serviceLifecycle],
            exclude: ["Fixtures"]  // Python stand-ins run by the end-to-end tests
        ),
    ]
)
