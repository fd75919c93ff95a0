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

    @Test("deploy/graph-relay.example.yaml loads once its certificate paths exist and its placeholder hash is replaced")
    func deployExample() throws {
        let pki = TestPKI.shared
        let shipped = try String(contentsOfFile: packageRoot + "/deploy/graph-relay.example.yaml", encoding: .utf8)
            .replacingOccurrences(of: "/etc/graph-relay/cert.pem", with: pki.serverCertificate)
            .replacingOccurrences(of: "/etc/graph-relay/key.pem", with: pki.serverKey)
        let environment = ["GRAPH_CLIENT_SECRET": "s3cret", "GRAPH_RELAY_ADMIN_TOKEN": "admin-s3cret"]
        // As shipped, the user's hash is the published placeholder: refused until it is replaced.
        #expect(throws: ConfigurationError.self) { try RelayConfiguration.parse(yaml: shipped, environment: environment) }
        do {
            _ = try RelayConfiguration.parse(yaml: shipped, environment: environment)
        } catch {
            #expect(error.issues.map(\.path) == ["access.users[0].passwordHash"])
            #expect(error.issues.first?.message.contains("placeholder") == true)
        }
        let placeholder = try #require(shipped.firstMatch(of: /"(\$scrypt\$[^"]+)"/)?.1)
        #expect(try PasswordHash(parsing: String(placeholder)).verify("change-me"))
        let own = try PasswordHasher.hash(password: "printer-password")
        let text = shipped.replacingOccurrences(of: String(placeholder), with: own)
        let configuration = try RelayConfiguration.parse(yaml: text, environment: environment)
        #expect(configuration.smtp.listeners.count == 3)
        #expect(configuration.routes.count == 3)
        #expect(configuration.access.users.first?.passwordHash.verify("printer-password") == true)
        // The example does not ship a 'mailbox: sender' route that sends as anyone a client claims.
        #expect(configuration.warnings.filter { $0.path.hasPrefix("routes") }.isEmpty, "\(configuration.warnings)")
        #expect(configuration.routes.contains { $0.requireHeaderFromMatch })
    }
}
