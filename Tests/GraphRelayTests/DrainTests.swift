import Foundation
import GraphRelayTestSupport
import NIOCore
import Testing
@testable import GraphRelay

/// Graceful drain of the real binary on SIGTERM (`smtp.drainTimeout`).
@Suite("Drain on SIGTERM", .timeLimit(.minutes(2)))
struct DrainTests {
    @Test("SIGTERM: listeners close at once and /readyz turns 503; an idle session is told 421 4.3.2 at once, one in a transaction finishes it (250) and then is told, one stalled in DATA is told at smtp.drainTimeout; exit 0, the message delivered")
    func sigterm() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try await QueueRelayFixture.with { fixture in
            let configFile = fixture.directory + "/relay.yaml"
            try ReloadTests.write(fixture.yaml.replacingOccurrences(of: "  listeners:\n", with: "  drainTimeout: 6s\n  listeners:\n"), to: configFile)
            let server = try await QueueServerProcess.start(configFile: configFile)
            defer { server.kill() }
            _ = await server.process.waitForOutput(containing: "admin listening")
            let adminPort = try #require(ReloadTests.adminPort(in: server.output), "\(server.output.suffix(2000))")

            // Ready once its first token is in (the start-up check runs beside the listeners).
            _ = await server.process.waitForOutput(containing: "access token acquired")
            // The container's health check: 200 from /readyz, anything else (or nothing) fails.
            let health = try await QueueServerProcess.run(["health", "--url", "http://127.0.0.1:\(adminPort)/readyz"])
            #expect(health.status == 0 && health.stdout.hasPrefix("200 "), "\(health.stdout)\(health.stderr)")
            let missing = try await QueueServerProcess.run(["health", "--url", "http://127.0.0.1:\(adminPort)/nothing"])
            #expect(missing.status == 1 && missing.stdout.hasPrefix("404 "), "\(missing.stdout)")
            let version = try await QueueServerProcess.run(["--version"])
            #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == GraphRelayVersion.current)

            let idle = try await QueueSMTPSession.open(port: server.port)
            let busy = try await QueueSMTPSession.open(port: server.port)
            #expect(try await busy.client.command("MAIL FROM:<scanner@printer.test>").code == 250)
            #expect(try await busy.client.command("RCPT TO:<a@example.com>").code == 250)
            let stalled = try await QueueSMTPSession.open(port: server.port)
            #expect(try await stalled.client.command("MAIL FROM:<scanner@printer.test>").code == 250)
            #expect(try await stalled.client.command("RCPT TO:<a@example.com>").code == 250)
            #expect(try await stalled.client.command("DATA").code == 354)
            try await stalled.client.send("Subject: never finished\r\n\r\nhalf a message")

            let started = ContinuousClock.now
            kill(server.process.pid, SIGTERM)
            let told = try await idle.client.readReply(timeout: .seconds(5))
            #expect(told.code == 421 && told.lines.first?.contains("4.3.2") == true, "\(told)")
            let readiness = try await AdminListenerTests.curl(port: adminPort, path: "/readyz")
            #expect(readiness.status == 503, "\(readiness)")
            let refused = try? await SMTPTestClient.connect(port: server.port)
            #expect(refused == nil, "the listener is closed")

            // The transaction under way finishes, then the session is told.
            let message = QueueTestMessage.make(from: "scanner@printer.test", to: "a@example.com", subject: "drained")
            #expect(try await busy.client.command("DATA").code == 354)
            try await busy.client.send(message + ".\r\n")
            let accepted = try await busy.client.readReply(timeout: .seconds(5))
            #expect(accepted.code == 250, "\(accepted)")
            let after = try await busy.client.readReply(timeout: .seconds(5))
            #expect(after.code == 421, "\(after)")

            // The stalled one is told at the drain timeout.
            let cut = try await stalled.client.readReply(timeout: .seconds(15))
            let waited = ContinuousClock.now - started
            #expect(cut.code == 421 && waited >= .milliseconds(5900) && waited < .seconds(12), "\(cut) after \(waited)")

            #expect(await server.process.waitForExit(timeout: 30), "\(server.output.suffix(2000))")
            #expect(server.process.terminationStatus == 0, "\(server.output.suffix(2000))")
            #expect(fixture.delivered()["drained"]?.count == 1, "the drained message was delivered before exit")
            #expect(fixture.delivered()["never finished"] == nil)
            let gone = try await QueueServerProcess.run(["health", "--url", "http://127.0.0.1:\(adminPort)/healthz", "--timeout", "2"])
            #expect(gone.status == 1 && gone.stderr.contains("health:"), "\(gone.stdout)\(gone.stderr)")
        }
    }
}
