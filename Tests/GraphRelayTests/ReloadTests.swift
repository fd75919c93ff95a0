import Foundation
import GraphRelayTestSupport
import Testing
@testable import GraphRelay

/// Reloading the configuration without a restart: SIGHUP to the real binary, and the guarantees
/// behind it (validated first, nothing changed on error, open sessions keep their configuration).
@Suite("Configuration reload (SIGHUP)", .timeLimit(.minutes(3)))
struct ReloadTests {
    static let newRoute = #"  - { sender: "*@newdevice.test", application: contoso, mailbox: relay@contoso.test }"#

    @Test("graph-relay serve: SIGHUP puts a new route in force; an invalid file is refused with its key and line and the old configuration stays; the reload counter counts both; a moved listener needs a restart")
    func sighupToTheBinary() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try await QueueRelayFixture.with(emulator: { $0.mailboxes[0].sendAs.append("scanner@newdevice.test") }) { fixture in
            let configFile = fixture.directory + "/relay.yaml"
            try Self.write(fixture.yaml, to: configFile)
            let server = try await QueueServerProcess.start(configFile: configFile)
            defer { server.kill() }
            _ = await server.process.waitForOutput(containing: "admin listening")
            let adminPort = try #require(Self.adminPort(in: server.output), "\(server.output.suffix(2000))")

            let before = try await Self.send(port: server.port, from: "scanner@newdevice.test", subject: "before")
            #expect(before.code >= 500, "no route for newdevice.test yet: \(before)")

            // A new route, and a listener moved (which needs a restart).
            let routed = fixture.yaml.replacingOccurrences(of: "routes:\n", with: "routes:\n\(Self.newRoute)\n")
                .replacingOccurrences(of: #"- { address: "127.0.0.1:0" }"#, with: #"- { address: "[::1]:0" }"#)
            #expect(routed != fixture.yaml)
            try Self.write(routed, to: configFile)
            kill(server.process.pid, SIGHUP)
            #expect(await server.process.waitForOutput(containing: "configuration reloaded") != nil, "\(server.output.suffix(2000))")
            #expect(server.output.contains("restart-needed=smtp.listeners"), "\(server.output.suffix(2000))")
            let after = try await Self.send(port: server.port, from: "scanner@newdevice.test", subject: "after")
            #expect(after.code == 250, "\(after)")
            #expect(await queueWait { fixture.delivered()["after"]?.count == 1 })

            // An invalid file: refused, logged with the key and the line, the running configuration kept.
            let broken = routed.replacingOccurrences(of: "application: contoso, mailbox: relay@contoso.test }",
                                                     with: "application: contsoo, mailbox: relay@contoso.test }")
            try Self.write(broken, to: configFile)
            kill(server.process.pid, SIGHUP)
            let failure = await server.process.waitForOutput(containing: "configuration reload failed")
            #expect(failure != nil, "\(server.output.suffix(2000))")
            let line = try #require(server.output.split(separator: "\n").first { $0.contains("configuration reload failed") })
            #expect(line.contains("relay.key=routes[0].application") && line.contains("relay.line=") && line.contains("contsoo"), "\(line)")
            #expect(server.isRunning)
            let still = try await Self.send(port: server.port, from: "scanner@newdevice.test", subject: "still")
            #expect(still.code == 250, "the last good configuration stays in force: \(still)")

            let metrics = try await MetricsTests.scrape(port: adminPort, token: nil)
            #expect(metrics.value("graph_relay_config_reloads_total", ["outcome": "success"]) == 1)
            #expect(metrics.value("graph_relay_config_reloads_total", ["outcome": "failure"]) == 1)

            kill(server.process.pid, SIGTERM)
            #expect(await server.process.waitForExit(timeout: 30))
            #expect(server.process.terminationStatus == 0)
        }
    }

    @Test("a session open during a reload finishes under the configuration it started with; the next session gets the new one")
    func openSessionsKeepTheirConfiguration() async throws {
        try await QueueRelayFixture.with { fixture in
            let service = try await fixture.start()
            let open = try await QueueSMTPSession.open(port: fixture.port)
            // The printer route is removed; users, networks and routes are all re-read.
            let withoutPrinter = fixture.yaml.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.contains("*@printer.test") }.joined(separator: "\n")
            let new = try RelayConfiguration.parse(yaml: withoutPrinter, baseDirectory: fixture.directory, environment: [:], file: "reloaded.yaml")
            let restart = try service.reload(new)
            #expect(restart.isEmpty, "\(restart)")
            #expect(service.configuration.routes.count == 3)

            let message = QueueTestMessage.make(from: "scanner@printer.test", to: "a@example.com", subject: "open during reload")
            let kept = try await open.send(from: "scanner@printer.test", to: ["a@example.com"], message: message)
            #expect(kept.code == 250, "\(kept)")
            await open.quit()
            let refused = try await QueueSMTPSession.sendOne(port: fixture.port, from: "scanner@printer.test", to: ["a@example.com"],
                                                             message: QueueTestMessage.make(from: "scanner@printer.test", to: "a@example.com", subject: "new session"))
            #expect(refused.code >= 500, "\(refused)")
            #expect(await queueWait { fixture.delivered()["open during reload"]?.count == 1 })
        }
    }

    @Test("a reload that cannot build its parts (a certificate that no longer loads) changes nothing")
    func unbuildablePartsChangeNothing() async throws {
        try await QueueRelayFixture.with { fixture in
            let service = try await fixture.start()
            let certificate = fixture.directory + "/server.crt"
            let key = fixture.directory + "/server.key"
            try FileManager.default.copyItem(atPath: TestPKI.shared.serverCertificate, toPath: certificate)
            try FileManager.default.copyItem(atPath: TestPKI.shared.serverKey, toPath: key)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
            let yaml = fixture.yaml.replacingOccurrences(of: "routes:\n", with: "routes:\n\(Self.newRoute)\n")
                + "\ntls: { certificate: \(certificate), privateKey: \(key) }\n"
            let new = try RelayConfiguration.parse(yaml: yaml, baseDirectory: fixture.directory, environment: [:], file: "tls.yaml")
            // Valid when read; the certificate is replaced by garbage before the reload builds it.
            try "not a certificate\n".write(toFile: certificate, atomically: true, encoding: .utf8)
            #expect(throws: (any Error).self) { try service.reload(new) }
            #expect(service.configuration.routes.count == 4)
            #expect(service.configuration.tls == nil)
        }
    }

    // MARK: Helpers

    static func write(_ yaml: String, to file: String) throws {
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
    }

    static func send(port: Int, from: String, subject: String) async throws -> SMTPTestReply {
        try await QueueSMTPSession.sendOne(port: port, from: from, to: ["a@example.com"],
                                          message: QueueTestMessage.make(from: from, to: "a@example.com", subject: subject))
    }

    /// The admin port from the `admin listening` log line (`admin.url=http://127.0.0.1:PORT/`).
    static func adminPort(in output: String) -> Int? {
        guard let range = output.range(of: "admin.url=http://127.0.0.1:") else { return nil }
        return Int(output[range.upperBound...].prefix { $0.isNumber })
    }
}
