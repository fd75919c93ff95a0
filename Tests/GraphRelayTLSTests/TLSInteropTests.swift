import Foundation
import GraphRelayTLS
import GraphRelayTestSupport
import NIOCore
import NIOPosix
import Testing

/// Server side of the interop fixtures: answers each line with `pong <version> <cipher>` and
/// closes (with close_notify) after `QUIT`.
private final class PongHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var info: TLSConnectionInfo?
    private var pending = ""

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? TLSUserEvent { self.info = info }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += String(buffer: unwrapInboundIn(data))
        while let newline = pending.firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) {  // "\r\n" is one Character
            let line = pending[..<newline].trimmingCharacters(in: .whitespacesAndNewlines)
            pending = String(pending[pending.index(after: newline)...])
            if line == "QUIT" {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "bye\n")), promise: nil)
                context.close(promise: nil)
                return
            }
            let reply = "pong \(info?.version ?? "-") \(info?.cipher ?? "-")\n"
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
        }
    }
}

/// The smallest STARTTLS server: greets in plaintext, answers EHLO, upgrades on STARTTLS by
/// inserting a ``TLSHandler`` in front of itself, then behaves like ``PongHandler``.
private final class StartTLSFixture: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let context: TLSContext
    private var upgraded = false
    private var pending = ""

    init(context: TLSContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "220 fixture ESMTP\r\n")), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += String(buffer: unwrapInboundIn(data))
        while let newline = pending.firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) {  // "\r\n" is one Character
            let line = pending[..<newline].trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
            pending = String(pending[pending.index(after: newline)...])
            if line.hasPrefix("EHLO") {
                let features = upgraded ? "250 fixture\r\n" : "250-fixture\r\n250 STARTTLS\r\n"
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: features)), promise: nil)
            } else if line == "STARTTLS" && !upgraded {
                upgraded = true
                pending = ""  // never act on plaintext pipelined after STARTTLS
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "220 go ahead\r\n")), promise: nil)
                let handler = try! TLSHandler(context: self.context)
                try! context.pipeline.syncOperations.addHandler(handler, position: .first)
            } else if line == "QUIT" {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "221 bye\r\n")), promise: nil)
                context.close(promise: nil)
            } else {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "250 tls=\(upgraded)\r\n")), promise: nil)
            }
        }
    }
}

/// Client side for `openssl s_server -www`: sends a GET and collects the answer until close.
private final class HTTPGetter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let done: EventLoopPromise<(String, TLSConnectionInfo?)>
    private var response = ""
    private var info: TLSConnectionInfo?
    private var failure: Error?

    init(done: EventLoopPromise<(String, TLSConnectionInfo?)>) { self.done = done }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "GET / HTTP/1.0\r\n\r\n")), promise: nil)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? TLSUserEvent { self.info = info }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        response += String(buffer: unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failure = failure ?? error
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let failure { done.fail(failure) } else { done.succeed((response, info)) }
    }
}

@Suite("TLS interop with the openssl command line tools over loopback")
struct TLSInteropTests {
    private func startServer(
        _ configuration: TLSConfiguration,
        _ makeHandlers: @escaping @Sendable (TLSContext) throws -> [ChannelHandler]
    ) async throws -> Channel {
        let context = try TLSContext(configuration: configuration, role: .server)
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(makeHandlers(context))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    private func port(_ channel: Channel) -> Int { channel.localAddress!.port! }

    @Test("openssl s_client completes a verified TLS 1.3 session with the server mode (implicit TLS)")
    func sClientImplicitTLS() async throws {
        let server = try await startServer(TLSPair.defaultServer()) { context in [try TLSHandler(context: context), PongHandler()] }
        defer { server.close(promise: nil) }
        let result = try await ProcessRunner.run("openssl", [
            "s_client", "-connect", "127.0.0.1:\(port(server))", "-servername", "localhost",
            "-CAfile", TestPKI.shared.caCertificate, "-verify_return_error", "-quiet",
        ], input: "ping\nQUIT\n".data(using: .utf8), timeout: 20)
        #expect(result.stdout.contains("pong TLSv1.3 TLS_"), "s_client said: \(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("bye"))
        #expect(result.status == 0)
    }

    @Test("a returning client resumes its session from the server's ticket (no session cache needed)", arguments: ["-tls1_3", "-tls1_2"])
    func sClientResumes(version: String) async throws {
        let server = try await startServer(TLSPair.defaultServer()) { context in [try TLSHandler(context: context), PongHandler()] }
        defer { server.close(promise: nil) }
        let session = FileManager.default.temporaryDirectory.appendingPathComponent("tls-session-\(UInt32.random(in: 0...UInt32.max)).pem").path
        defer { try? FileManager.default.removeItem(atPath: session) }
        var said: [String] = []
        for sessionOption in ["-sess_out", "-sess_in"] {
            let result = try await ProcessRunner.run("openssl", [
                "s_client", "-connect", "127.0.0.1:\(port(server))", "-servername", "localhost", version,
                "-CAfile", TestPKI.shared.caCertificate, "-verify_return_error", sessionOption, session, "-ign_eof",
            ], input: "ping\nQUIT\n".data(using: .utf8), timeout: 20)
            #expect(result.stdout.contains("bye"), "s_client said: \(result.stdout) \(result.stderr)")
            said.append(result.stdout)
        }
        #expect(said[0].contains("\nNew, "), "\(said[0])")
        #expect(said[1].contains("\nReused, "), "\(said[1])")
    }

    @Test("openssl s_client -starttls smtp upgrades a plaintext session")
    func sClientStartTLS() async throws {
        let server = try await startServer(TLSPair.defaultServer()) { context in [StartTLSFixture(context: context)] }
        defer { server.close(promise: nil) }
        let result = try await ProcessRunner.run("openssl", [
            "s_client", "-connect", "127.0.0.1:\(port(server))", "-starttls", "smtp", "-servername", "localhost",
            "-CAfile", TestPKI.shared.caCertificate, "-verify_return_error", "-quiet",
        ], input: "NOOP\nQUIT\n".data(using: .utf8), timeout: 20)
        #expect(result.stdout.contains("250 tls=true"), "s_client said: \(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("221 bye"))
    }

    @Test("a TLS 1.0-only openssl client is refused by default and accepted with the legacy opt-in")
    func legacyClient() async throws {
        let arguments = { (port: Int) in [
            "s_client", "-connect", "127.0.0.1:\(port)", "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0",
            "-CAfile", TestPKI.shared.caCertificate, "-quiet",
        ] }
        let strict = try await startServer(TLSPair.defaultServer()) { context in [try TLSHandler(context: context), PongHandler()] }
        defer { strict.close(promise: nil) }
        let refused = try await ProcessRunner.run("openssl", arguments(port(strict)), input: "ping\nQUIT\n".data(using: .utf8), timeout: 20)
        #expect(!refused.stdout.contains("pong"))
        #expect(refused.status != 0)

        var legacy = TLSPair.defaultServer()
        legacy.allowLegacyProtocols = true
        legacy.minimumVersion = .tls1_0
        let lenient = try await startServer(legacy) { context in [try TLSHandler(context: context), PongHandler()] }
        defer { lenient.close(promise: nil) }
        let accepted = try await ProcessRunner.run("openssl", arguments(port(lenient)), input: "ping\nQUIT\n".data(using: .utf8), timeout: 20)
        #expect(accepted.stdout.contains("pong TLSv1 "), "s_client said: \(accepted.stdout) \(accepted.stderr)")
        #expect(accepted.stdout.contains("-SHA\n"))  // a CBC-mode suite such as ECDHE-RSA-AES256-SHA
    }

    @Test("a server's default TLS 1.2 suites are AEAD with forward secrecy: a CBC-only or static-RSA client is refused")
    func aeadOnlyByDefault() async throws {
        let server = try await startServer(TLSPair.defaultServer()) { context in [try TLSHandler(context: context), PongHandler()] }
        defer { server.close(promise: nil) }
        let arguments = { (cipher: String) in [
            "s_client", "-connect", "127.0.0.1:\(self.port(server))", "-tls1_2", "-cipher", cipher,
            "-CAfile", TestPKI.shared.caCertificate, "-quiet",
        ] }
        for cbc in ["ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-SHA256", "AES256-GCM-SHA384"] {
            let refused = try await ProcessRunner.run("openssl", arguments(cbc), input: "ping\nQUIT\n".data(using: .utf8), timeout: 20)
            #expect(!refused.stdout.contains("pong"), "\(cbc) was accepted: \(refused.stdout)")
        }
        let accepted = try await ProcessRunner.run("openssl", arguments("ALL"), input: "ping\nQUIT\n".data(using: .utf8), timeout: 20)
        #expect(accepted.stdout.contains("pong TLSv1.2 ECDHE-"), "s_client said: \(accepted.stdout) \(accepted.stderr)")
        #expect(accepted.stdout.contains("-GCM-") || accepted.stdout.contains("CHACHA20"))
        // The whole list is what OpenSSL understands: every name in it is a known suite.
        let listed = try await ProcessRunner.run("openssl", ["ciphers", TLSConfiguration.intermediateCipherList])
        let known = Set(listed.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").map(String.init))
        for name in TLSConfiguration.intermediateCipherList.split(separator: ":") {
            #expect(known.contains(String(name)), "OpenSSL does not know \(name)")
        }
    }

    private func getFromSServer(_ extra: [String] = [], configure: (inout TLSConfiguration) -> Void = { _ in },
                                serverHostname: String = "localhost") async throws -> (String, TLSConnectionInfo?) {
        let pki = TestPKI.shared
        let sServer = try BackgroundProcess("openssl", [
            "s_server", "-accept", "127.0.0.1:0", "-cert", pki.serverCertificate, "-key", pki.serverKey, "-www",
        ] + extra)
        defer { sServer.stop() }
        // Generous: in a full `make test` it starts beside headless Chromium and hundreds of tests.
        let banner = try #require(
            await sServer.waitForOutput(containing: "ACCEPT 127.0.0.1:", timeout: 40),
            "s_server (running: \(sServer.isRunning)) printed: \(sServer.text)")
        let portText = banner.components(separatedBy: "ACCEPT 127.0.0.1:")[1].prefix { $0.isNumber }
        let port = try #require(Int(portText))

        var configuration = TLSPair.defaultClient()
        configure(&configuration)
        let context = try TLSContext(configuration: configuration, role: .client)
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.next().makePromise(of: (String, TLSConnectionInfo?).self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: context, serverHostname: serverHostname), HTTPGetter(done: done),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        return try await done.futureResult.get()
    }

    @Test("client mode talks to openssl s_server with verification and ALPN")
    func sServer() async throws {
        let (response, info) = try await getFromSServer(["-alpn", "http/1.1"]) { $0.applicationProtocols = ["http/1.1"] }
        #expect(response.hasPrefix("HTTP/1.0 200 ok"))
        #expect(info?.version == "TLSv1.3")
        #expect(info?.applicationProtocol == "http/1.1")
    }

    @Test("client mode refuses openssl s_server when its CA is unknown")
    func sServerUnknownCA() async throws {
        let error = await #expect(throws: TLSError.self) {
            _ = try await getFromSServer { $0.additionalTrustRoots = [.file(TestPKI.shared.otherCACertificate)] }
        }
        #expect(error?.description.contains("unable to get local issuer certificate") == true)
        #expect(error?.description.contains("client") == true)
    }

    @Test("client mode refuses openssl s_server under another name")
    func sServerHostnameMismatch() async throws {
        let error = await #expect(throws: TLSError.self) {
            _ = try await getFromSServer(serverHostname: "login.example.net")
        }
        #expect(error?.description.contains("hostname mismatch") == true)
    }
}
