import Foundation
import GraphRelayTestSupport
import ServiceLifecycle
import Testing
@testable import GraphRelay

/// `serve` as a swift-service-lifecycle `ServiceGroup`: a graceful shutdown stops the listeners
/// first and delivery last, nothing accepted is lost, and the real binary exits 0 on SIGTERM
/// and reloads its certificate on SIGHUP, telling systemd each step when it listens.
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

    @Test("graph-relay serve: SIGHUP reloads the configuration (certificate included), SIGTERM stops it gracefully with exit status 0")
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
            #expect(await server.process.waitForOutput(containing: "configuration reloaded") != nil, "\(server.output.suffix(2000))")
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

    @Test("under systemd (a real NOTIFY_SOCKET): READY=1 once listening, WATCHDOG=1, RELOADING=1/READY=1 on SIGHUP, STOPPING=1 on SIGTERM")
    func systemdNotify() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try await QueueRelayFixture.with { fixture in
            let configFile = fixture.directory + "/relay.yaml"
            // JSON logs too: every line the binary writes must be one JSON object.
            try (fixture.yaml + "\nlogging: { format: json }\n").write(toFile: configFile, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: configFile)
            let socket = try NotifySocket()
            let server = try await QueueServerProcess.start(
                configFile: configFile, environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "300000"]
            )
            defer { server.kill() }
            var seen: [String] = []
            let ready = await socket.receive(containing: "READY=1", timeout: 10, seen: &seen)
            #expect(ready?.contains("STATUS=listening on") == true, "\(seen)\n\(server.output.suffix(1500))")
            // Listening by the time READY=1 is sent: a client is served at once.
            let (reply, _) = try await sendOne(port: server.port, subject: "notify")
            #expect(reply.code == 250, "\(reply)")
            // The watchdog is fed every half WATCHDOG_USEC (150 ms).
            var pings = 0
            for _ in 0..<3 {
                if await socket.receive(containing: "WATCHDOG=1", timeout: 5, seen: &seen) != nil { pings += 1 }
            }
            #expect(pings == 3, "\(seen)")

            kill(server.process.pid, SIGHUP)
            let reloading = await socket.receive(containing: "RELOADING=1", timeout: 10, seen: &seen)
            #expect(reloading?.contains("MONOTONIC_USEC=") == true, "\(seen)")
            #expect(await socket.receive(containing: "READY=1", timeout: 10, seen: &seen) != nil, "READY=1 after the reload: \(seen)")

            kill(server.process.pid, SIGTERM)
            #expect(await socket.receive(containing: "STOPPING=1", timeout: 10, seen: &seen) != nil, "\(seen)")
            #expect(await server.process.waitForExit(timeout: 30))
            #expect(server.process.terminationStatus == 0, "\(server.output.suffix(2000))")
            let lines = server.output.split(separator: "\n")
            #expect(lines.count > 5)
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["time"] != nil && object?["level"] != nil && object?["message"] != nil, "not a JSON log line: \(line)")
            }
            #expect(lines.contains { $0.contains(#""message":"message answered""#) && $0.contains(#""smtp.sender":"<scanner@printer.test>""#) },
                    "\(server.output.suffix(2000))")
            // The delivery line an operator greps for.
            let delivered = try #require(lines.first { $0.contains(#""message":"message delivered""#) }, "\(server.output.suffix(2000))")
            let fields = try #require(try JSONSerialization.jsonObject(with: Data(delivered.utf8)) as? [String: Any])
            #expect(fields["relay.outcome"] as? String == "delivered" && fields["relay.attempt"] as? String == "1", "\(fields)")
            #expect(fields["relay.sender"] as? String == "scanner@printer.test" && fields["relay.recipients"] as? String == "1")
            #expect((fields["relay.message-id"] as? String)?.contains("notify") == true && fields["graph.request-id"] != nil, "\(fields)")
            #expect((fields["relay.delay"] as? String)?.hasSuffix("s") == true && fields["relay.size"] != nil, "\(fields)")
            // The client-request-id the relay sent, as Graph (the emulator) received it.
            let sent = try #require(fixture.delivered()["notify"]?.first)
            #expect(fields["graph.client-request-id"] as? String == sent.clientRequestID && sent.clientRequestID != nil, "\(fields)")
            #expect(fields["graph.request-id"] as? String == sent.requestID, "\(fields)")
        }
    }

    @Test("without NOTIFY_SOCKET nothing is sent; an abstract socket name (@…) and WATCHDOG_PID are understood")
    func notifierEnvironment() {
        let none = SystemdNotifier(environment: [:])
        #expect(!none.isActive && none.watchdogInterval == nil && !none.notify("READY=1"))
        let abstract = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@graph-relay-test-\(getpid())", "WATCHDOG_USEC": "2000000"])
        #expect(abstract.isActive && abstract.watchdogInterval == .seconds(1))
        let otherProcess = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"])
        #expect(otherProcess.watchdogInterval == nil, "the watchdog is for another process")
    }

    private func sendOne(port: Int, subject: String) async throws -> (SMTPTestReply, String) {
        let message = QueueTestMessage.make(from: "scanner@printer.test", to: "alice@example.com", subject: subject)
        return (try await QueueSMTPSession.sendOne(port: port, from: "scanner@printer.test", to: ["alice@example.com"], message: message), message)
    }
}
