// swift-tools-version:6.1
import PackageDescription

// graph-relay: an SMTP-to-Microsoft-Graph relay gateway.
//
// All TLS goes through the system OpenSSL (Debian libssl-dev): `COpenSSL` is the system-library
// target, `COpenSSLShims` wraps the macros Swift cannot import, `GraphRelayTLS` is the SwiftNIO
// handler built on both: no BoringSSL-based TLS package, no other HTTP client stack.
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioEmbedded = Target.Dependency.product(name: "NIOEmbedded", package: "swift-nio")
let nioConcurrencyHelpers = Target.Dependency.product(name: "NIOConcurrencyHelpers", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")

let package = Package(
    name: "graph-relay",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "graph-relay", targets: ["GraphRelayCLI"]),
        .executable(name: "graph-emulator", targets: ["GraphEmulatorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
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
        .target(name: "GraphRelayMIME", dependencies: [nioCore]),
        .target(name: "GraphRelayTLS", dependencies: ["COpenSSL", "COpenSSLShims", nioCore, nioConcurrencyHelpers, logging]),
        .target(name: "GraphRelaySMTP", dependencies: ["GraphRelayTLS", nioCore, nioConcurrencyHelpers, nioPosix, logging]),
        .target(
            name: "GraphRelayGraph",
            dependencies: ["GraphRelayTLS", "GraphRelayMIME", "COpenSSL", "COpenSSLShims", nioCore, nioConcurrencyHelpers, nioPosix, nioHTTP1, logging]
        ),
        .target(name: "GraphRelaySpool", dependencies: ["GraphRelayMIME", nioCore, nioPosix, logging]),
        .target(
            name: "GraphRelay",
            dependencies: [
                "GraphRelaySMTP", "GraphRelayGraph", "GraphRelayMIME", "GraphRelaySpool", "GraphRelayTLS", "COpenSSL",
                nioCore, nioConcurrencyHelpers, nioPosix, logging, yams,
            ]
        ),
        .executableTarget(name: "GraphRelayCLI", dependencies: ["GraphRelay", "GraphRelayMIME", "GraphRelaySpool", "GraphRelaySMTP", argumentParser, logging, nioCore, nioPosix]),

        // MARK: Graph emulator (test support and the demo's stand-in for Microsoft Graph)
        .target(
            name: "GraphEmulator",
            dependencies: ["GraphRelayTLS", "COpenSSL", "COpenSSLShims", nioCore, nioConcurrencyHelpers, nioPosix, nioHTTP1, logging]
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
            name: "GraphRelayTLSTests",
            dependencies: ["GraphRelayTLS", "GraphRelayTestSupport", nioCore, nioPosix, nioEmbedded]
        ),
        .testTarget(
            name: "GraphRelaySMTPTests",
            dependencies: ["GraphRelaySMTP", "GraphRelayTLS", "GraphRelayTestSupport", nioCore, nioConcurrencyHelpers, nioPosix, nioEmbedded, logging]
        ),
        .testTarget(
            name: "GraphRelayGraphTests",
            dependencies: ["GraphRelayGraph", "GraphEmulator", "GraphRelayTLS", "GraphRelayTestSupport", nioCore, nioPosix, nioEmbedded, nioHTTP1, logging]
        ),
        .testTarget(
            name: "GraphRelaySpoolTests",
            dependencies: ["GraphRelaySpool", "GraphRelayTestSupport", nioCore, nioPosix, logging]
        ),
        .testTarget(
            name: "GraphRelayTests",
            dependencies: ["GraphRelay", "GraphEmulator", "GraphRelayGraph", "GraphRelayMIME", "COpenSSL", "GraphRelaySMTP", "GraphRelaySpool", "GraphRelayTLS", "GraphRelayTestSupport", nioCore, nioPosix, nioEmbedded, logging],
            exclude: ["Fixtures"]  // Python stand-ins run by the end-to-end tests
        ),
    ]
)
