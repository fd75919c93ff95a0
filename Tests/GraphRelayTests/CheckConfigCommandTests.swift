import Foundation
import GraphRelayTestSupport
import Testing

@Suite("graph-relay check-config")
struct CheckConfigCommandTests {
    private let binary = QueueServerProcess.binary

    func check(_ yaml: String) async throws -> ProcessResult {
        let file = NSTemporaryDirectory() + "graph-relay-check-\(UUID().uuidString).yaml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try await ProcessRunner.run(binary, ["check-config", "--config", file])
    }

    @Test("a valid configuration: the summary says how large messages are sent and which permissions that needs")
    func summary() async throws {
        let auto = try await check(minimalYAML)
        #expect(auto.status == 0, "\(auto.stderr)")
        #expect(auto.stdout.contains("messages up to 36700160 bytes, sendMail up to one request, drafts (mime) above; needs Mail.Send and Mail.ReadWrite"),
                "\(auto.stdout)")
        let sendMail = try await check(minimalYAML + "\ngraph: { sendVia: sendMail }\n")
        #expect(sendMail.stdout.contains("messages up to 3000000 bytes, sendMail only; needs Mail.Send"), "\(sendMail.stdout)")
    }

    @Test("graph.sendVia: sendMail with a message size one request cannot carry: exit 1, naming the key")
    func refusesOversizedSendMail() async throws {
        let result = try await check(minimalYAML + "\nsmtp: { maxMessageSize: 20MB }\ngraph: { sendVia: sendMail }\n")
        #expect(result.status == 1)
        #expect(result.stderr.contains("smtp.maxMessageSize: 20000000 bytes cannot be sent with graph.sendVia: sendMail"), "\(result.stderr)")
        let typo = try await check(minimalYAML + "\ngraph: { sendVia: upload }\n")
        #expect(typo.status == 1 && typo.stderr.contains("graph.sendVia: 'upload' is not one of: auto, drafts, sendMail"), "\(typo.stderr)")
    }
}
