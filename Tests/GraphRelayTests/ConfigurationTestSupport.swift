import Foundation
import GraphRelayTestSupport
@testable import GraphRelay

/// A hash with the cheapest parameters a configuration accepts (scrypt ln=14), made once.
let testPasswordHash: String = try! PasswordHasher.hash(password: "pw", algorithm: .scrypt(logN: 14, r: 8, p: 1))

/// The sections every valid configuration needs, without TLS.
let minimalYAML = """
    access:
      networks: ["10.0.0.0/8"]
    applications:
      - name: contoso
        tenantId: contoso.onmicrosoft.com
        clientId: 00000000-0000-0000-0000-000000000000
        clientSecret: s3cr3t-value
    routes:
      - { sender: "*", application: contoso, mailbox: noreply@contoso.com }
    """

func loadConfiguration(_ yaml: String, environment: [String: String] = [:], baseDirectory: String? = nil) throws(ConfigurationError) -> RelayConfiguration {
    try RelayConfiguration.parse(yaml: yaml, baseDirectory: baseDirectory, environment: environment, file: "test.yaml")
}

/// The problems reported for a configuration (`path: message`), or `[]` if it loaded.
func configurationIssues(_ yaml: String, environment: [String: String] = [:], baseDirectory: String? = nil) -> [String] {
    do {
        _ = try loadConfiguration(yaml, environment: environment, baseDirectory: baseDirectory)
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

/// A fresh temporary directory for a test.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "graph-relay-config-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func write(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}
