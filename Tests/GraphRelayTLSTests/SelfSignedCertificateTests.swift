import GraphRelayTLS
import GraphRelayTestSupport
import Testing

@Suite("Self-signed development certificates")
struct SelfSignedCertificateTests {
    @Test("a generated certificate serves TLS to a client that trusts exactly it, for its names only")
    func generatedCertificateWorks() throws {
        let generated = try SelfSignedCertificate.generate(commonName: "emulator.local",
                                                           subjectAlternativeNames: ["DNS:emulator.local", "IP:127.0.0.1"])
        #expect(generated.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(generated.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let server = TLSConfiguration.server(certificateChain: .pem(generated.certificatePEM), privateKey: .pem(generated.privateKeyPEM))
        var client = TLSConfiguration.client()
        client.useSystemTrustRoots = false
        client.additionalTrustRoots = [.pem(generated.certificatePEM)]

        let pair = try TLSPair(server: server, client: client, serverHostname: "emulator.local")
        try pair.connect()
        #expect(pair.clientRecorder.handshakeInfo != nil)

        let wrongName = try TLSPair(server: server, client: client, serverHostname: "localhost")
        try wrongName.connect()
        #expect(wrongName.clientRecorder.tlsErrors.first?.description.contains("hostname mismatch") == true)

        let other = try SelfSignedCertificate.generate()
        #expect(other.certificatePEM != generated.certificatePEM)
    }
}
