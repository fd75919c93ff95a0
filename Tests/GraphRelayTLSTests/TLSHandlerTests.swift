import GraphRelayTLS
import GraphRelayTestSupport
import NIOCore
import NIOEmbedded
import Testing

@Suite("TLS handler between two in-memory channels")
struct TLSHandlerTests {
    @Test("handshake completes and both sides learn the version and cipher")
    func handshake() throws {
        let pair = try TLSPair()
        try pair.connect()
        let serverInfo = try #require(pair.serverRecorder.handshakeInfo)
        let clientInfo = try #require(pair.clientRecorder.handshakeInfo)
        #expect(serverInfo.version == "TLSv1.3")
        #expect(serverInfo == TLSConnectionInfo(version: clientInfo.version, cipher: clientInfo.cipher,
                                                cipherBits: clientInfo.cipherBits, applicationProtocol: nil))
        #expect(serverInfo.cipherBits >= 128)
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty)
    }

    @Test("ECDSA server certificate")
    func ecdsa() throws {
        let pki = TestPKI.shared
        let pair = try TLSPair(server: .server(certificateChain: .file(pki.ecServerCertificate),
                                               privateKey: .file(pki.ecServerKey)))
        try pair.connect()
        #expect(pair.clientRecorder.handshakeInfo != nil)
    }

    @Test("application data flows both ways, including writes made before the handshake finished")
    func dataBothWays() throws {
        let pair = try TLSPair()
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50000)).wait()
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 465)).wait()
        // Written while the handshake is still in progress: buffered, then sent.
        pair.write("EHLO printer\r\n", from: pair.client)
        try pair.interact()
        #expect(String(buffer: pair.serverRecorder.received) == "EHLO printer\r\n")
        pair.write("250 relay\r\n", from: pair.server)
        try pair.interact()
        #expect(String(buffer: pair.clientRecorder.received) == "250 relay\r\n")
    }

    @Test("a 5 MiB write arrives intact, split into many records")
    func largeWrite() throws {
        let pair = try TLSPair()
        try pair.connect()
        // 5 MiB of a pattern that never lines up with the 16 KiB record size.
        let pattern = (0..<251).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var payload = ByteBuffer()
        for _ in 0..<(5 * 1024 * 1024 / pattern.count) { payload.writeBytes(pattern) }
        pair.client.writeAndFlush(payload, promise: nil)
        try pair.interact()
        #expect(pair.serverRecorder.received == payload)
    }

    @Test("close sends close_notify; the peer answers and closes too")
    func closeNotify() throws {
        let pair = try TLSPair()
        try pair.connect()
        let closed = pair.client.close()
        try pair.interact()
        try closed.wait()
        #expect(pair.serverRecorder.events.contains(.closeNotifyReceived))
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.errors.isEmpty)
    }

    @Test("a ragged EOF after the handshake ends the connection without an error")
    func raggedEOF() throws {
        let pair = try TLSPair()
        try pair.connect()
        pair.write("partial", from: pair.client)
        try pair.interact()
        // TCP goes away without close_notify.
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverRecorder.inactive)
        #expect(pair.serverRecorder.errors.isEmpty)
        #expect(String(buffer: pair.serverRecorder.received) == "partial")
    }

    @Test("writes after close fail with writeAfterClose")
    func writeAfterClose() throws {
        let pair = try TLSPair()
        try pair.connect()
        _ = pair.client.close()
        let promise = pair.client.eventLoop.makePromise(of: Void.self)
        pair.client.pipeline.writeAndFlush(ByteBuffer(string: "late"), promise: promise)
        let error = #expect(throws: TLSError.self) { try promise.futureResult.wait() }
        #expect(error?.kind == .writeAfterClose)
    }

    @Test("connection closed during the handshake is reported")
    func closedDuringHandshake() throws {
        let pair = try TLSPair()
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50000)).wait()
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 465)).wait()
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.closedDuringHandshake])
    }

    @Test("handshake timeout closes the connection with a clear error")
    func handshakeTimeout() throws {
        var server = TLSPair.defaultServer()
        server.handshakeTimeout = .seconds(2)
        let pair = try TLSPair(server: server)
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50000)).wait()
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!pair.server.isActive)
        let error = try #require(pair.serverRecorder.tlsErrors.first)
        #expect(error.kind == .handshakeTimeout)
        #expect(error.description.contains("server"))
    }
}
