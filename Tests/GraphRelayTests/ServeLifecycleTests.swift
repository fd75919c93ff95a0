import Foundation
import GraphRelayTestSupport
import ServiceLifecycle
import Testing
@testable import GraphRelay

/// `serve` as a swift-service-lifecycle `ServiceGroup`: a graceful shutdown stops the listeners
/// first and delivery last, nothing accepted is lost, and the real binary exits 0 on SIGTERM
/// and reloads its certificate on SIGHUP.
@Suite("Serve: the relay as a ServiceGroup", .timeLimit(.minutes(2)))
struct ServeLifecycleTests {
    @Test("graceful shutdown: listeners closed, an idle session told 421 4.3.2, then delivery stopped; the group returns")
    func gracefulShutdownOrder() async throws {
        // Graph answers 503: the message stays queued, and must still be there after the stop.
        try await QueueRelayFixture.with(retry: "{ initial: 1m, maximum: 1m, lifetime: 1h }") { fixture in
            fixture.emulator.injectSendMailFault(.serviceUnavailable(), count: 1000)
            let service = try await fixture.start()
            let (reply, _) = try await fixture.send(from: "scanner@printer.test", subject: "lifecycle-queued")
            let id = try #require(reply.queueID, "\(reply)")
            let idle = try await QueueSMTPSession.open(port: fixture.port)

            let group = service.serviceGroup(gracePeriod: .seconds(5), gracefulShutdownSignals: [], logger: fixture.capture.logger("lifecycle"))
            let running = Task { try await group.run() }
            await group.triggerGracefulShutdown()
            try await running.value

            let goodbye = try await idle.client.readReply(timeout: .seconds(5))
            #expect(goodbye.code == 421 && goodbye.enhancedStatus == "4.3.2", "\(goodbye)")
            await idle.client.close()
            await #expect(throws: (any Error).self, "the listener is closed") {
                try await QueueSMTPSession.open(port: fixture.port)
            }
            let lines = fixture.capture.lines
            let listenersStopped = try #require(lines.firstIndex { $0.contains("SMTP listeners stopped") }, "\(fixture.capture.tail())")
            let deliveryStopped = try #require(lines.firstIndex { $0.contains("delivery stopped") }, "\(fixture.capture.tail())")
            #expect(listenersStopped < deliveryStopped, "the listeners stop before delivery")
            let queued = QueueSpoolFiles.records(fixture.spoolDirectory)
            #expect(queued[id]?["state"] as? String == "queued", "the accepted message stays in the spool: \(queued)")
            // Stopping again (as the fixture's close does) is harmless.
            await fixture.stop()
        }
    }

    @Test("graph-relay serve: SIGHUP reloads the certificate, SIGTERM stops it gracefully with exit status 0")
    func signalsToTheBinary() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try await QueueRelayFixture.with { fixture in
            // The private key as an operator keeps it: readable by its owner only.
            let key = fixture.directory + "/server.key"
            try FileManager.default.copyItem(atPath: TestPKI.shared.serverKey, toPath: key)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
            let configFile = fixture.directory + "/relay.yaml"
            let yaml = fixture.yaml + "\ntls: { certificate: \(TestPKI.shared.serverCertificate), privateKey: \(key) }\n"
            try yaml.write(toFile: configFile, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: configFile)
            let server = try await QueueServerProcess.start(configFile: configFile)
            defer { server.kill() }
            let (reply, _) = try await sendOne(port: server.port, subject: "signals")
            #expect(reply.code == 250, "\(reply)")
            #expect(await fixture.waitForEmptyQueue(timeout: .seconds(20)), "\(server.output.suffix(2000))")

            kill(server.process.pid, SIGHUP)
            #expect(await server.process.waitForOutput(containing: "TLS certificate reloaded") != nil, "\(server.output.suffix(2000))")
            #expect(server.isRunning, "SIGHUP must not stop the relay")

            kill(server.process.pid, SIGTERM)
            #expect(await server.process.waitForExit(timeout: 30), "\(server.output.suffix(2000))")
            #expect(server.process.terminationStatus == 0, "\(server.output.suffix(2000))")
            let output = server.output
            for expected in ["SMTP listeners stopped", "delivery stopped", "stopped"] {
                #expect(output.contains(expected), "no '\(expected)' in:\n\(output.suffix(2000))")
            }
            #expect(fixture.delivered()["signals"]?.count == 1, "the message was delivered once")
        }
    }

    private func sendOne(port: Int, subject: String) async throws -> (SMTPTestReply, String) {
        let message = QueueTestMessage.make(from: "scanner@printer.test", to: "alice@example.com", subject: subject)
        return (try await QueueSMTPSession.sendOne(port: port, from: "scanner@printer.test", to: ["alice@example.com"], message: message), message)
    }
}
