import Foundation
import GraphRelayGraph
import GraphRelayTestSupport
import GraphRelayTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The HTTP client against servers that are not ours: `openssl s_server`, a silent TCP peer.
@Suite("HTTPClient interop", .timeLimit(.minutes(1)))
struct HTTPClientInteropTests {
    let pki = TestPKI.shared

    func client(trusting ca: String, connectTimeout: TimeAmount = .seconds(5)) throws -> HTTPClient {
        var configuration = HTTPClientConfiguration()
        configuration.tls.useSystemTrustRoots = false
        configuration.tls.additionalTrustRoots = [.file(ca)]
        configuration.connectTimeout = connectTimeout
        configuration.requestTimeout = .seconds(10)
        return try HTTPClient(configuration: configuration)
    }

    func startSServer() async throws -> (BackgroundProcess, Int) {
        let server = try BackgroundProcess("openssl", [
            "s_server", "-accept", "0", "-cert", pki.serverCertificate, "-key", pki.serverKey, "-www", "-alpn", "http/1.1",
        ])
        let output = try #require(await server.waitForOutput(containing: "ACCEPT"))
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("ACCEPT") })
        let port = try #require(Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? ""))
        return (server, port)
    }

    @Test func speaksHTTPSToOpenSSLServer() async throws {
        let (server, port) = try await startSServer()
        defer { server.stop() }
        let http = try client(trusting: pki.caCertificate)
        // "localhost"": SNI and host name verification against the certificate's DNS name.
        let response = try await http.execute(HTTPClientRequest(method: .GET, url: try HTTPURL("https://localhost:\(port)/")),
                                              logger: Logger(label: "test"))
        await http.shutdown()
        #expect(response.status == .ok)
        #expect(response.version == .http1_0)
        #expect(response.bodyString.contains("Ciphers supported in s_server binary"))
        #expect(response.bodyString.contains("TLSv1.3"))
    }

    @Test func refusesOpenSSLServerWithUntrustedCertificate() async throws {
        let (server, port) = try await startSServer()
        defer { server.stop() }
        let http = try client(trusting: pki.otherCACertificate)
        do {
            _ = try await http.execute(HTTPClientRequest(method: .GET, url: try HTTPURL("https://127.0.0.1:\(port)/")),
                                       logger: Logger(label: "test"))
            Issue.record("the handshake should fail")
        } catch {
            #expect(error.kind == .tlsFailed)
            #expect(error.detail.contains("certificate verify failed"))
            #expect(!error.requestSent)
        }
        await http.shutdown()
    }

    @Test func silentPeerHitsTheConnectTimeout() async throws {
        // Accepts TCP connections and never answers the ClientHello.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(silent.localAddress?.port)
        let http = try client(trusting: pki.caCertificate, connectTimeout: .milliseconds(300))
        do {
            _ = try await http.execute(HTTPClientRequest(method: .GET, url: try HTTPURL("https://127.0.0.1:\(port)/")),
                                       logger: Logger(label: "test"))
            Issue.record("the connection should time out")
        } catch {
            #expect(error.kind == .connectTimeout)
            #expect(!error.requestSent)
        }
        await http.shutdown()
        try await silent.close()
    }

    @Test func shutDownClientRefusesRequests() async throws {
        let http = try client(trusting: pki.caCertificate)
        await http.shutdown()
        do {
            _ = try await http.execute(HTTPClientRequest(method: .GET, url: try HTTPURL("https://127.0.0.1:1/")), logger: Logger(label: "test"))
            Issue.record("should fail")
        } catch {
            #expect(error.kind == .shutdown)
        }
    }

    @Test func unreadableCAFileIsAConfigurationError() {
        var configuration = HTTPClientConfiguration()
        configuration.tls.additionalTrustRoots = [.file("/nonexistent/ca.pem")]
        #expect {
            try HTTPClient(configuration: configuration)
        } throws: { error in
            "\(error)".contains("/nonexistent/ca.pem")
        }
    }
}
