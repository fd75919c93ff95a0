import Foundation
import GraphRelayTestSupport
import Testing

/// The product's hard rule: every TLS byte goes through the system OpenSSL 3.
@Suite("TLS goes through the system OpenSSL only")
struct LinkageTests {
    /// The package root (tests run from it; fall back to walking up from this file).
    private var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }

    /// The `graph-relay` executable built next to this test bundle.
    private var relayBinary: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("graph-relay").path
    }

    @Test("graph-relay links libssl.so.3 and libcrypto.so.3 and carries no BoringSSL")
    func binaryLinksSystemOpenSSL() throws {
        let binary = relayBinary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build graph-relay first: \(binary)")
        let ldd = try ProcessRunner.run("ldd", [binary])
        #expect(ldd.stdout.contains("libssl.so.3"))
        #expect(ldd.stdout.contains("libcrypto.so.3"))
        let symbols = try ProcessRunner.run("nm", ["--defined-only", binary], timeout: 120)
        #expect(symbols.status == 0)
        #expect(symbols.stdout.contains("GraphRelayTLS"))  // sanity: the symbol table was read
        #expect(!symbols.stdout.contains("CNIOBoringSSL"))
        #expect(!symbols.stdout.contains("NIOSSL"))
    }

    @Test("no product source imports NIOSSL, AsyncHTTPClient or FoundationNetworking, or uses URLSession")
    func sourcesAvoidOtherTLSStacks() throws {
        let root = packageRoot
        let manifest = try String(contentsOfFile: root + "/Package.swift", encoding: .utf8)
        let dependencies = manifest.split(separator: "\n").filter { $0.contains(".package(url:") }
        #expect(dependencies.count >= 2)
        #expect(!dependencies.contains { $0.contains("swift-nio-ssl") || $0.contains("async-http-client") })
        let banned = try NSRegularExpression(pattern: #"^\s*(@preconcurrency\s+)?import\s+(NIOSSL|AsyncHTTPClient|FoundationNetworking)\b|URLSession"#, options: [.anchorsMatchLines])
        let enumerator = FileManager.default.enumerator(atPath: root + "/Sources")
        var checked = 0
        while let relative = enumerator?.nextObject() as? String {
            guard relative.hasSuffix(".swift") else { continue }
            let text = try String(contentsOfFile: root + "/Sources/" + relative, encoding: .utf8)
            let hits = banned.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text))
            #expect(hits == 0, "Sources/\(relative) uses another TLS stack")
            checked += 1
        }
        #expect(checked > 5)
    }
}
