import GraphRelayTLS
import GraphRelayTestSupport
import Logging
import NIOCore
import NIOPosix
@testable import GraphRelaySMTP

/// A real listener on 127.0.0.1 (port 0) with three listeners — `plain`, `submission`
/// (STARTTLS) and `smtps` (implicit TLS) — using the test PKI's server certificate.
struct SMTPServerFixture {
    let server: SMTPServer
    let policy: TestPolicy
    let ports: [String: Int]

    var plainPort: Int { ports["plain"]! }
    var submissionPort: Int { ports["submission"]! }
    var smtpsPort: Int { ports["smtps"]! }

    static let quietLogger = Logger(label: "graph-relay.smtp.test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func serverTLS() throws -> TLSContext {
        let pki = TestPKI.shared
        return try TLSContext(
            configuration: .server(certificateChain: .file(pki.serverCertificate), privateKey: .file(pki.serverKey)),
            role: .server
        )
    }

    static func clientTLS() throws -> TLSContext {
        try TLSContext.testClient(trusting: TestPKI.shared.caCertificate)
    }

    static func start(
        listeners: [SMTPListenerConfiguration] = [
            SMTPListenerConfiguration(name: "plain", host: "127.0.0.1", port: 0),
            SMTPListenerConfiguration(name: "submission", host: "127.0.0.1", port: 0, tls: .starttls),
            SMTPListenerConfiguration(name: "smtps", host: "127.0.0.1", port: 0, tls: .implicit),
        ],
        limits: SMTPLimits = SMTPLimits(),
        policy: TestPolicy = TestPolicy(),
        authenticator: (any SMTPAuthenticator)? = TestAuthenticator(),
        tls: Bool = true
    ) async throws -> SMTPServerFixture {
        var limits = limits
        limits.authenticationFailureDelay = .milliseconds(10)
        let configuration = SMTPServerConfiguration(
            hostname: "relay.test", listeners: listeners, limits: limits, tls: tls ? try serverTLS() : nil
        )
        let server = SMTPServer(configuration: configuration, policy: policy, authenticator: authenticator, logger: quietLogger)
        let bound = try await server.start(on: MultiThreadedEventLoopGroup.singleton)
        return SMTPServerFixture(server: server, policy: policy, ports: Dictionary(uniqueKeysWithValues: bound.map { ($0.configuration.name, $0.port) }))
    }

    func connect(_ listener: String = "plain", implicitTLS: Bool = false) async throws -> SMTPTestClient {
        try await SMTPTestClient.connect(port: ports[listener]!, implicitTLS: implicitTLS ? try Self.clientTLS() : nil)
    }

    func stop() async {
        await server.shutdown(gracePeriod: .seconds(5))
    }
}

/// Runs `body` with a started fixture and always shuts it down.
func withSMTPServer(
    listeners: [SMTPListenerConfiguration]? = nil,
    limits: SMTPLimits = SMTPLimits(),
    policy: TestPolicy = TestPolicy(),
    authenticator: (any SMTPAuthenticator)? = TestAuthenticator(),
    _ body: (SMTPServerFixture) async throws -> Void
) async throws {
    let fixture: SMTPServerFixture
    if let listeners {
        fixture = try await .start(listeners: listeners, limits: limits, policy: policy, authenticator: authenticator)
    } else {
        fixture = try await .start(limits: limits, policy: policy, authenticator: authenticator)
    }
    do {
        try await body(fixture)
    } catch {
        await fixture.stop()
        throw error
    }
    await fixture.stop()
}

extension SMTPTestClient {
    /// Reads `count` replies and returns their "code status" strings.
    func statuses(_ count: Int) async throws -> [String] {
        var result: [String] = []
        for _ in 0..<count { result.append(try await readReply().status) }
        return result
    }
}
