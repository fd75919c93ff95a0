import Foundation
import GraphRelay
import GraphRelayTestSupport

/// Names and credentials shared by the end-to-end tests.
enum EndToEnd {
    static let tenant = "contoso.onmicrosoft.com"
    static let clientID = "6a1f0c3e-2b7d-4c58-9e41-d03b7a95c2f8"
    static let clientSecret = "e2e~Client.Secret-4711"
    static let domain = "contoso.test"
    static let hostname = "relay.e2e.test"
    static let user = "printer"
    static let password = "Printer-Pa55word!"
    /// A real hash from the product's hasher (default scrypt parameters), made once per process.
    static let passwordHash: String = {
        do {
            return try PasswordHasher.hash(password: password)
        } catch {
            fatalError("cannot hash the test password: \(error)")
        }
    }()

    static var pki: TestPKI { TestPKI.shared }

    /// `Tests/GraphRelayTests/Fixtures`: the Python Graph stand-in, SMTP client and assertion probe.
    static let fixtures: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
}
