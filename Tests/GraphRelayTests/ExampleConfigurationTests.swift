import Foundation
import GraphRelay
import GraphRelayTestSupport
import Testing

@Suite("Shipped configurations stay valid")
struct ExampleConfigurationTests {
    private var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }

    @Test("deploy/graph-relay.example.yaml loads once its certificate paths exist")
    func deployExample() throws {
        let pki = TestPKI.shared
        let text = try String(contentsOfFile: packageRoot + "/deploy/graph-relay.example.yaml", encoding: .utf8)
            .replacingOccurrences(of: "/etc/graph-relay/cert.pem", with: pki.serverCertificate)
            .replacingOccurrences(of: "/etc/graph-relay/key.pem", with: pki.serverKey)
        let configuration = try RelayConfiguration.parse(yaml: text, environment: ["GRAPH_CLIENT_SECRET": "s3cret"])
        #expect(configuration.smtp.listeners.count == 3)
        #expect(configuration.routes.count == 3)
        #expect(configuration.access.users.first?.passwordHash.verify("change-me") == true)
    }
}
