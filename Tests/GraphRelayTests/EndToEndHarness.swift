import Foundation
import GraphEmulator
import GraphRelay
import GraphRelayTestSupport
import Logging
import NIOCore

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

    /// The directory of this file's fixtures (the Python Graph stand-in and SMTP client).
    static let fixtures: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
}

/// How the relay and its Graph are set up for one test.
struct EndToEndSetup: Sendable {
    enum Credential: Sendable {
        case secret(String)
        /// `certificate: { certificate, privateKey }` (PEM files).
        case certificate(certificate: String, privateKey: String)
    }

    /// What the relay presents to Entra ID.
    var credential = Credential.secret(EndToEnd.clientSecret)
    /// `access.networks`.
    var trustedNetworks = ["127.0.0.0/8"]
    /// `allowedSenders` of the one AUTH user, `nil` for any sender.
    var allowedSenders: [String]? = ["*@\(EndToEnd.domain)"]
    /// `routes`, as YAML flow mappings.
    var routes = [#"{ sender: "*@\#(EndToEnd.domain)", application: contoso, mailbox: sender }"#]
    /// More top-level sections (`graph`, `scheduler`, ...) as YAML.
    var extraYAML = "graph: { connectTimeout: 5s, requestTimeout: 15s }"
    /// Mailboxes that exist in the emulated tenant.
    var mailboxes = ["scanner@\(EndToEnd.domain)", "alice@\(EndToEnd.domain)"].map { GraphEmulatorConfiguration.Mailbox($0) }
    /// Last changes to the emulator's configuration (faults are injected at run time instead).
    var emulator: @Sendable (inout GraphEmulatorConfiguration) -> Void = { _ in }
}

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
        let emulator = try await GraphEmulator.start(configuration: emulatorConfiguration(setup), logger: logs.logger(label: "e2e.emulator"))
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
        let yaml = Self.relayYAML(setup, graphURL: graphURL)
        var relayConfiguration = try RelayConfiguration.parse(yaml: yaml, baseDirectory: EndToEnd.pki.directory, environment: [:], file: "e2e.yaml")
        // A configuration file needs real ports (1–65535); the listeners ask the OS for free ones
        // instead, and RelayService.start() reports the ports they got.
        for index in relayConfiguration.smtp.listeners.indices {
            relayConfiguration.smtp.listeners[index].address.port = 0
        }
        let relay = RelayService(configuration: relayConfiguration, logger: logs.logger(label: "e2e.relay"))
        let bound: [SMTPBoundListenerInfo]
        do {
            bound = try await relay.start().map { SMTPBoundListenerInfo(tls: $0.configuration.tls.rawValue, port: $0.port) }
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
    static func relayYAML(_ setup: EndToEndSetup, graphURL: String) -> String {
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
                - { address: "127.0.0.1:2465", tls: implicit }
              commandTimeout: 30s
            tls: { certificate: \(yamlQuoted(pki.serverCertificate)), privateKey: \(yamlQuoted(pki.serverKey)) }
            access:
            \(networks)  users:
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
        while !logs.all.contains(where: { $0.contains("application credentials verified") || $0.contains("application cannot get a token") }) {
            guard ContinuousClock.now < deadline else { throw EndToEndError("the relay's start-up token check did not finish within \(timeout)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

struct SMTPBoundListenerInfo: Sendable, CustomStringConvertible {
    var tls: String
    var port: Int
    var description: String { "\(tls):\(port)" }
}

struct EndToEndError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Everything the relay and the emulator log during one test, as text lines.
final class EndToEndLogStore: Sendable {
    private let lines = NIOLockedLines()

    func logger(label: String) -> Logger {
        var logger = Logger(label: label) { _ in EndToEndLogHandler(store: self.lines) }
        logger.logLevel = .debug
        return logger
    }

    var all: [String] { lines.all }
    var text: String { all.joined(separator: "\n") }
}

final class NIOLockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}

struct EndToEndLogHandler: LogHandler {
    let store: NIOLockedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        store.append("\(event.level) \(event.message) \(rendered)")
    }
}
