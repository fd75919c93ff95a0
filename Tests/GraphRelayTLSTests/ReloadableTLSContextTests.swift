import Foundation
import GraphRelayTLS
import GraphRelayTestSupport
import Testing

@Suite("Reloading certificates without a restart")
struct ReloadableTLSContextTests {
    @Test("a changed certificate file produces a new context; a broken one keeps the old")
    func reload() throws {
        let pki = TestPKI.shared
        let directory = pki.directory + "/reload-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        try FileManager.default.copyItem(atPath: pki.serverCertificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: pki.serverKey, toPath: key)

        let reloadable = try ReloadableTLSContext(configuration: .server(certificateChain: .file(certificate), privateKey: .file(key)), role: .server)
        let first = reloadable.current
        #expect(try reloadable.reloadIfChanged() == false)
        #expect(reloadable.current === first)

        // Rotate to a freshly issued certificate and key.
        let issued = try pki.issueServerCertificate(name: "rotated-\(UUID().uuidString)")
        try FileManager.default.removeItem(atPath: certificate)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: issued.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: issued.key, toPath: key)
        #expect(try reloadable.reloadIfChanged() == true)
        let second = reloadable.current
        #expect(second !== first)

        // A half-written certificate: reload fails, the working context stays.
        try "-----BEGIN CERTIFICATE-----\nMIIB\n".write(toFile: certificate, atomically: true, encoding: .utf8)
        #expect(throws: TLSError.self) { try reloadable.reloadIfChanged() }
        #expect(reloadable.current === second)
    }
}
