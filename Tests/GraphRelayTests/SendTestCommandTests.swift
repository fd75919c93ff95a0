import Foundation
import GraphEmulator
import GraphRelayTestSupport
import Testing

/// `graph-relay send-test` as an operator runs it (the real binary) against a Graph emulator.
@Suite("send-test: one message straight through Graph, step by step", .timeLimit(.minutes(2)))
struct SendTestCommandTests {
    @Test("a routed sender with an attachment: route, token and Graph's 202 printed, exit 0; the message arrives")
    func accepted() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try await QueueRelayFixture.with { fixture in
            let configFile = try Self.writeConfiguration(fixture)
            let attachment = fixture.directory + "/scan.pdf"
            try Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: attachment))
            let result = try await QueueServerProcess.run(["send-test", "--config", configFile, "--from", "scanner@printer.test",
                                                           "--to", "alice@example.com", "--subject", "send-test-1", "--attach", attachment])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("route: scanner@printer.test → application 'contoso', sent as mailbox \(QueueTestRoutes.printerMailbox)"), "\(result.stdout)")
            #expect(result.stdout.contains("token: obtained for 'contoso'"), "\(result.stdout)")
            #expect(result.stdout.contains("graph: accepted (202) — request-id "), "\(result.stdout)")
            let delivered = try #require(fixture.delivered()["send-test-1"]?.first, "\(fixture.delivered().keys)")
            #expect(delivered.mimeText.contains("Content-Disposition: attachment; filename=\"scan.pdf\""))
        }
    }

    @Test("Entra refuses the secret: the AADSTS code and the fix, exit 1 (send-test and check-config --probe); a sender without a route: exit 1")
    func refused() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try await QueueRelayFixture.with { fixture in
            let configFile = try Self.writeConfiguration(fixture)
            fixture.emulator.injectTokenFault(.error(status: 401, error: "invalid_client", code: 7000215, description: "Invalid client secret provided."), count: 10)
            let refused = try await QueueServerProcess.run(["send-test", "--config", configFile, "--from", "scanner@printer.test", "--to", "alice@example.com"])
            #expect(refused.status == 1)
            #expect(refused.stdout.contains("token: FAILED") && refused.stdout.contains("AADSTS7000215") && refused.stdout.contains("fix:"), "\(refused.stdout)")
            #expect(!refused.stdout.contains(QueueTestApp.secret), "the secret is never printed")
            let probe = try await QueueServerProcess.run(["check-config", "--probe", "--config", configFile])
            #expect(probe.status == 1 && probe.stdout.contains("token: FAILED for 'contoso'") && probe.stdout.contains("AADSTS7000215"), "\(probe.stdout)")
            fixture.emulator.clearFaults()
            let probeAgain = try await QueueServerProcess.run(["check-config", "--probe", "--config", configFile])
            #expect(probeAgain.status == 0 && probeAgain.stdout.contains("token: obtained for 'contoso'"), "\(probeAgain.stdout)")
            let unrouted = try await QueueServerProcess.run(["send-test", "--config", configFile, "--from", "nobody@elsewhere.test", "--to", "alice@example.com"])
            #expect(unrouted.status == 1 && unrouted.stdout.contains("route: none for nobody@elsewhere.test"), "\(unrouted.stdout)")
            #expect(fixture.emulator.acceptedMessages.isEmpty)
        }
    }

    private static func writeConfiguration(_ fixture: QueueRelayFixture) throws -> String {
        let configFile = fixture.directory + "/relay.yaml"
        try fixture.yaml.write(toFile: configFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: configFile)
        return configFile
    }
}
