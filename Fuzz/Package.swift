// swift-tools-version: 6.1
// libFuzzer targets for every parser that reads client bytes (docs/security.md, "Fuzzing").
// Not part of the product or of `make test`: `make fuzz` (scripts/fuzz.sh) builds them with
// -sanitize=fuzzer,address and runs each for a bounded time on its seed corpus in
// Fuzz/Corpus/<target>. Each executable hands its command line to libFuzzer's driver.
import PackageDescription

let targets = [
    ("FuzzSMTPCommand", ["GraphRelaySMTP", "GraphRelayMIME"]),
    ("FuzzSMTPInbound", ["GraphRelaySMTP"]),
    ("FuzzSMTPSession", ["GraphRelaySMTP", "GraphRelayTLS"]),
    ("FuzzAddressList", ["GraphRelay"]),
    ("FuzzMessageHead", ["GraphRelay"]),
    ("FuzzMIME", ["GraphRelayMIME"]),
    ("FuzzProxyHeader", ["GraphRelaySMTP"]),
]

let package = Package(
    name: "graph-relay-fuzz",
    dependencies: [
        .package(name: "graph-relay", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
    ],
    targets: [.target(name: "CLibFuzzer")] + targets.map { name, modules in
        .executableTarget(
            name: name,
            dependencies: modules.map { .product(name: $0, package: "graph-relay") }
                + [.product(name: "NIOCore", package: "swift-nio"), "CLibFuzzer"],
            path: "Sources/\(name)"
        )
    }
)
