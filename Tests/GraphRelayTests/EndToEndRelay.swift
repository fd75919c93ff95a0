import Foundation
import GraphEmulator
import GraphRelay
import NIOCore

/// graph-relay on 127.0.0.1 (one STARTTLS and one implicit-TLS listener on free ports, TLS from
/// ``TestPKI``) delivering synchronously to a ``GraphEmulator`` over real HTTPS: the application's
/// `loginEndpoint`/`graphEndpoint` point at the emulator, `caFile` is the test CA. This is the
/// production path — no `emulator:` section in the relay's configuration.
final class EndToEndRelay: Sendable {
    /// The emulator, unless the test brought its own Graph (``run(_:graphURL:_:)``).
    let graphEmulator: GraphEmulator?
    let relay: RelayService
    let starttlsPort: Int
    let implicitPort: Int
    let logs: EndToEndLogStore

    /// The emulator (for tests that use it).
    var emulator: GraphEmulator { graphEmulator! }

    private init(emulator: GraphEmulator?, relay: RelayService, starttlsPort: Int, implicitPort: Int, logs: EndToEndLogStore) {
        self.graphEmulator = emulator
        self.relay = relay
        self.starttlsPort = starttlsPort
        self.implicitPort = implicitPort
        self.logs = logs
    }

    /// Starts the emulator and the relay, runs `body`, and always stops both.
    static func run<T: Sendable>(_ setup: EndToEndSetup = EndToEndSetup(),
                                 _ body: (EndToEndRelay) async throws -> T) async throws -> T {
        let logs = EndToEndLogStore()
        let emulator = try await GraphEmulator.start(configuration: emulatorConfiguration(setup), logger: logs.logger("e2e.emulator", level: .debug))
        do {
            return try await run(setup, graphURL: emulator.baseURL, emulator: emulator, logs: logs, body)
        } catch {
            await emulator.shutdown()
            throw error
        }
    }

    /// Starts the relay against a Graph already listening at `graphURL` (HTTPS with a
    /// certificate from ``TestPKI``), runs `body`, and always stops the relay.
    static func run<T: Sendable>(_ setup: EndToEndSetup, graphURL: String,
                                 _ body: (EndToEndRelay) async throws -> T) async throws -> T {
        try await run(setup, graphURL: graphURL, emulator: nil, logs: EndToEndLogStore(), body)
    }

    static func emulatorConfiguration(_ setup: EndToEndSetup) throws -> GraphEmulatorConfiguration {
        let pki = EndToEnd.pki
        var configuration = GraphEmulatorConfiguration()
        configuration.tls = .server(certificateChain: .file(pki.serverCertificate), privateKey: .file(pki.serverKey))
        configuration.mailboxes = setup.mailboxes
        configuration.applications = [GraphEmulatorConfiguration.Application(
            tenantID: EndToEnd.tenant, clientID: EndToEnd.clientID, secrets: [EndToEnd.clientSecret],
            certificates: [try String(contentsOfFile: pki.serverCertificate, encoding: .utf8)]
        )]
        setup.emulator(&configuration)
        return configuration
    }

    private static func run<T: Sendable>(_ setup: EndToEndSetup, graphURL: String, emulator: GraphEmulator?, logs: EndToEndLogStore,
                                         _ body: (EndToEndRelay) async throws -> T) async throws -> T {
        // delivery: synchronous keeps messages being received in the spool directory's tmp/.
        let spoolDirectory = NSTemporaryDirectory() + "graph-relay-e2e-spool-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: spoolDirectory) }
        let yaml = Self.relayYAML(setup, graphURL: graphURL, spoolDirectory: spoolDirectory)
        var relayConfiguration = try RelayConfiguration.parse(yaml: yaml, baseDirectory: EndToEnd.pki.directory, environment: [:], file: "e2e.yaml")
        // The listeners ask the OS for free ports (port 0); RelayService.start() reports the ports
        // they got.
        for index in relayConfiguration.smtp.listeners.indices {
            relayConfiguration.smtp.listeners[index].address.port = 0
        }
        let relay = RelayService(configuration: relayConfiguration, logger: logs.logger("e2e.relay", level: .debug))
        let bound: [BoundListener]
        do {
            bound = try await relay.start().map { BoundListener(tls: $0.configuration.tls.rawValue, port: $0.port) }
        } catch {
            await relay.shutdown(gracePeriod: .milliseconds(100))
            throw error
        }
        guard let starttls = bound.first(where: { $0.tls == "starttls" }), let implicit = bound.first(where: { $0.tls == "implicit" }) else {
            await relay.shutdown(gracePeriod: .milliseconds(100))
            throw EndToEndError("the relay did not bind both listeners: \(bound)")
        }
        let harness = EndToEndRelay(emulator: emulator, relay: relay, starttlsPort: starttls.port, implicitPort: implicit.port, logs: logs)
        do {
            let result = try await body(harness)
            await harness.stop()
            return result
        } catch {
            await harness.stop()
            throw error
        }
    }

    private func stop() async {
        await relay.shutdown(gracePeriod: .seconds(2))
        await graphEmulator?.shutdown()
    }

    /// The relay's configuration file for `setup`, Graph at `graphURL`.
    static func relayYAML(_ setup: EndToEndSetup, graphURL: String, spoolDirectory: String) -> String {
        let pki = EndToEnd.pki
        let credential: String
        switch setup.credential {
        case .secret(let secret):
            credential = "clientSecret: \(yamlQuoted(secret))"
        case .certificate(let certificate, let privateKey):
            credential = "certificate: { certificate: \(yamlQuoted(certificate)), privateKey: \(yamlQuoted(privateKey)) }"
        }
        let networks = setup.trustedNetworks.isEmpty ? "" : "  networks: [\(setup.trustedNetworks.map(yamlQuoted).joined(separator: ", "))]\n"
        let allowed = setup.allowedSenders.map { ", allowedSenders: [\($0.map(yamlQuoted).joined(separator: ", "))]" } ?? ""
        return """
            smtp:
              hostname: \(EndToEnd.hostname)
              listeners:
                - { address: "127.0.0.1:2587", tls: starttls }     # port 0 after loading
                - { address: "127.0.0.1:2465", tls: implicit\(setup.implicitListenerKeys.map { ", " + $0 }.joined()) }
              commandTimeout: 30s
            tls: { certificate: \(yamlQuoted(pki.serverCertificate)), privateKey: \(yamlQuoted(pki.serverKey)) }
            access:
            \(setup.accessKeys.map { "  \($0)\n" }.joined())\(networks)  users:
                - { name: \(EndToEnd.user), passwordHash: \(yamlQuoted(EndToEnd.passwordHash))\(allowed) }
            applications:
              - name: contoso
                tenantId: \(EndToEnd.tenant)
                clientId: \(EndToEnd.clientID)
                \(credential)
                loginEndpoint: \(graphURL)
                graphEndpoint: \(graphURL)
                caFile: \(yamlQuoted(pki.caCertificate))
            routes:
            \(setup.routes.map { "  - \($0)" }.joined(separator: "\n"))
            delivery: synchronous
            spool: { directory: \(yamlQuoted(spoolDirectory))\(setup.spoolKeys.map { ", " + $0 }.joined()) }
            admin: \(setup.admin)
            \(setup.extraYAML)

            """
    }

    static func yamlQuoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Waits (bounded) until the relay's start-up credential check has finished — its token is
    /// cached, or it logged why there is none — so that token counts and token faults are
    /// deterministic.
    func waitForStartupToken(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !logs.lines.contains(where: { $0.contains("application credentials verified") || $0.contains("application cannot get a token") }) {
            guard ContinuousClock.now < deadline else { throw EndToEndError("the relay's start-up token check did not finish within \(timeout)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    struct BoundListener: Sendable, CustomStringConvertible {
        var tls: String
        var port: Int
        var description: String { "\(tls):\(port)" }
    }
}
