import GraphRelayTLS
import GraphRelayTestSupport
import NIOCore
import NIOEmbedded
import Testing

@Suite("TLS failures carry OpenSSL's reasons")
struct TLSFailureTests {
    private func clientError(_ pair: TLSPair) throws -> TLSError {
        try pair.connect()
        let error = try #require(pair.clientRecorder.tlsErrors.first)
        #expect(pair.clientRecorder.handshakeInfo == nil)
        #expect(!pair.client.isActive)
        return error
    }

    @Test("a server certificate from an unknown CA is refused")
    func unknownCA() throws {
        var client = TLSPair.defaultClient()
        client.additionalTrustRoots = [.file(TestPKI.shared.otherCACertificate)]
        let error = try clientError(TLSPair(client: client))
        #expect(error.kind == .handshakeFailed)
        #expect(error.role == .client)
        #expect(error.description.contains("certificate verify failed: unable to get local issuer certificate"))
        #expect(error.description.contains("peer localhost"))
    }

    @Test("a certificate for another host name is refused")
    func hostnameMismatch() throws {
        let error = try clientError(TLSPair(serverHostname: "graph.example.com"))
        #expect(error.description.contains("hostname mismatch"))
        #expect(error.description.contains("graph.example.com"))
    }

    @Test("an IP address is verified against the certificate's IP SAN")
    func ipAddress() throws {
        let good = try TLSPair(serverHostname: "127.0.0.1")
        try good.connect()
        #expect(good.clientRecorder.handshakeInfo != nil)

        let bad = try TLSPair(serverHostname: "127.0.0.2")
        let error = try clientError(bad)
        #expect(error.description.contains("IP address mismatch"))
    }

    @Test("an expired certificate is refused")
    func expired() throws {
        let pki = TestPKI.shared
        let pair = try TLSPair(server: .server(certificateChain: .file(pki.expiredCertificate), privateKey: .file(pki.expiredKey)))
        let error = try clientError(pair)
        #expect(error.description.contains("certificate has expired"))
    }

    @Test("by default a client offering only TLS 1.0 fails the handshake with a clear error")
    func tls10RefusedByDefault() throws {
        var client = TLSPair.defaultClient()
        client.allowLegacyProtocols = true
        client.minimumVersion = .tls1_0
        client.maximumVersion = .tls1_0
        let pair = try TLSPair(client: client)
        try pair.connect()
        let error = try #require(pair.serverRecorder.tlsErrors.first)
        #expect(error.kind == .handshakeFailed)
        #expect(error.role == .server)
        #expect(error.description.contains("unsupported protocol"))
        #expect(pair.serverRecorder.handshakeInfo == nil)
    }

    @Test("with the legacy opt-in a TLS 1.0 client succeeds with an AES-CBC suite")
    func tls10WithLegacyOptIn() throws {
        var server = TLSPair.defaultServer()
        server.allowLegacyProtocols = true
        server.minimumVersion = .tls1_0
        var client = TLSPair.defaultClient()
        client.allowLegacyProtocols = true
        client.minimumVersion = .tls1_0
        client.maximumVersion = .tls1_0
        let pair = try TLSPair(server: server, client: client)
        try pair.connect()
        let info = try #require(pair.serverRecorder.handshakeInfo)
        #expect(info.version == "TLSv1")
        #expect(info.cipher.contains("AES") && info.cipher.hasSuffix("SHA"))  // e.g. ECDHE-RSA-AES256-SHA (CBC)
    }

    @Test("TLS 1.0 as minimum without the legacy opt-in is a configuration error")
    func legacyNeedsOptIn() throws {
        var server = TLSPair.defaultServer()
        server.minimumVersion = .tls1_0
        let error = #expect(throws: TLSError.self) { try TLSContext(configuration: server, role: .server) }
        #expect(error?.kind == .configuration)
        #expect(error?.description.contains("allowLegacyProtocols") == true)
    }

    @Test("garbage instead of a ClientHello fails the handshake and closes")
    func garbage() throws {
        let pair = try TLSPair()
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50000)).wait()
        try pair.server.writeInbound(ByteBuffer(string: "EHLO printer.local\r\nMAIL FROM:<a@b>\r\n"))
        let error = try #require(pair.serverRecorder.tlsErrors.first)
        #expect(error.kind == .handshakeFailed)
        #expect(!error.reasons.isEmpty)
        #expect(!pair.server.isActive)
    }

    @Test("missing files and mismatched keys are reported at context creation")
    func badConfiguration() throws {
        let pki = TestPKI.shared
        let missing = #expect(throws: TLSError.self) {
            try TLSContext(configuration: .server(certificateChain: .file("/nonexistent/cert.pem"), privateKey: .file(pki.serverKey)), role: .server)
        }
        #expect(missing?.description.contains("/nonexistent/cert.pem") == true)
        let mismatch = #expect(throws: TLSError.self) {
            try TLSContext(configuration: .server(certificateChain: .file(pki.serverCertificate), privateKey: .file(pki.ecServerKey)), role: .server)
        }
        #expect(mismatch?.description.contains("does not match") == true)
        var badCiphers = TLSPair.defaultServer()
        badCiphers.cipherList = "NOT-A-CIPHER"
        let cipherError = #expect(throws: TLSError.self) { try TLSContext(configuration: badCiphers, role: .server) }
        #expect(cipherError?.description.contains("NOT-A-CIPHER") == true)
    }
}
