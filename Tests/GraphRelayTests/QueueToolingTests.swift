import Foundation
import GraphRelayTestSupport
import Testing

/// `graph-relay queue list|show|retry|delete` as separate processes, beside a running
/// `graph-relay serve` (the real binary) whose Graph — an emulator in this test process — answers
/// 503, so messages stay queued until the tooling acts.
@Suite("Queue: queue tooling beside a running server (real graph-relay binary)")
struct QueueToolingTests {
    @Test("list shows queued messages, show details one, retry sends one now, delete removes one for good, bad ids exit 1")
    func toolingBesideRunningServer() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        // A minute between attempts: nothing is retried unless the tooling says so.
        try await QueueRelayFixture.with(retry: "{ initial: 1m, maximum: 1m, lifetime: 1h }") { fixture in
            let configFile = fixture.directory + "/relay.yaml"
            try fixture.yaml.write(toFile: configFile, atomically: true, encoding: .utf8)
            let emulator = fixture.emulator
            emulator.injectSendMailFault(.serviceUnavailable(), count: 1000)
            let server = try await QueueServerProcess.start(configFile: configFile)
            defer { server.kill() }
            let spool = fixture.spoolDirectory
            func queue(_ arguments: String...) async throws -> ProcessResult {
                try await QueueServerProcess.run(["queue"] + arguments + ["--config", configFile])
            }

            var ids: [String] = []
            for subject in ["tool-a", "tool-b", "tool-c"] {
                let message = QueueTestMessage.make(from: "scanner@printer.test", to: "alice@example.com", subject: subject)
                let reply = try await QueueSMTPSession.sendOne(port: server.port, from: "scanner@printer.test", to: ["alice@example.com"], message: message)
                ids.append(try #require(reply.queueID, "\(subject): \(reply)"))
            }
            let (a, b, c) = (ids[0], ids[1], ids[2])
            let attempted = await queueWait(timeout: .seconds(20)) {
                let records = QueueSpoolFiles.records(spool)
                return ids.allSatisfy { id in
                    (records[id]?["attempts"] as? Int ?? 0) >= 1 && records[id]?["state"] as? String == "queued" && records[id]?["lastError"] != nil
                }
            }
            #expect(attempted, "first attempts not recorded; server log:\n\(server.output.suffix(3000))")

            // list
            let list = try await queue("list")
            #expect(list.status == 0, "\(list.stderr)")
            #expect(list.stdout.contains("ID") && list.stdout.contains("NEXT ATTEMPT") && list.stdout.contains("LAST ERROR"), "\(list.stdout)")
            for id in ids { #expect(list.stdout.contains(id), "\(id) not listed:\n\(list.stdout)") }
            #expect(list.stdout.contains("3 message(s) queued"), "\(list.stdout)")
            #expect(list.stdout.contains("Microsoft Graph unavailable"), "\(list.stdout)")

            // show
            let show = try await queue("show", a)
            #expect(show.status == 0, "\(show.stderr)")
            for expected in ["id: \(a)", "state: queued", "sender: scanner@printer.test", "recipients: alice@example.com",
                             "route: application=contoso mailbox=relay@contoso.test", "message-id: <tool-a@queue-e2e.test>",
                             "Subject: tool-a"] {
                #expect(show.stdout.contains(expected), "queue show lacks '\(expected)':\n\(show.stdout)")
            }

            // --json, for scripts: the same messages, keys stable, dates RFC 3339.
            let listJSON = try await queue("list", "--json")
            #expect(listJSON.status == 0, "\(listJSON.stderr)")
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(listJSON.stdout.utf8)) as? [[String: Any]], "\(listJSON.stdout)")
            #expect(Set(listed.compactMap { $0["id"] as? String }) == Set(ids))
            #expect(listed.allSatisfy { $0["state"] as? String == "queued" && $0["mailbox"] as? String == "relay@contoso.test" && ($0["attempts"] as? Int ?? 0) >= 1 })
            #expect(listed.allSatisfy { ($0["receivedAt"] as? String)?.hasSuffix("Z") == true && $0["headers"] == nil })
            let showJSON = try await queue("show", a, "--json")
            #expect(showJSON.status == 0, "\(showJSON.stderr)")
            let shown = try #require(try JSONSerialization.jsonObject(with: Data(showJSON.stdout.utf8)) as? [String: Any], "\(showJSON.stdout)")
            #expect(shown["id"] as? String == a && shown["messageId"] as? String == "<tool-a@queue-e2e.test>" && shown["sender"] as? String == "scanner@printer.test")
            let headers = try #require(shown["headers"] as? [[String: String]])
            #expect(headers.contains { $0["name"] == "Subject" && $0["value"] == "tool-a" }, "\(headers)")

            // retry one: Graph works again, only that message goes now.
            emulator.clearFaults()
            let retry = try await queue("retry", a)
            #expect(retry.status == 0 && retry.stdout.contains("\(a) scheduled for immediate retry"), "\(retry.stdout)\(retry.stderr)")
            let sentA = await queueWait(timeout: .seconds(15)) { fixture.delivered()["tool-a"] != nil && QueueSpoolFiles.records(spool)[a] == nil }
            #expect(sentA, "retry did not deliver \(a); server log:\n\(server.output.suffix(3000))")
            #expect(Set(QueueSpoolFiles.records(spool).keys) == [b, c])
            #expect(fixture.delivered()["tool-b"] == nil && fixture.delivered()["tool-c"] == nil)

            // delete one: gone from the spool and the server's schedule, never delivered.
            let delete = try await queue("delete", b)
            #expect(delete.status == 0 && delete.stdout.contains("\(b) deleted"), "\(delete.stdout)\(delete.stderr)")
            #expect(QueueSpoolFiles.records(spool)[b] == nil)
            #expect(!QueueSpoolFiles.files(spool, area: "queue").contains { $0.hasPrefix(b) })
            let noticed = await queueWait(timeout: .seconds(10)) {
                server.output.split(separator: "\n").contains { $0.contains("deleted by queue tooling") && $0.contains(b) }
            }
            #expect(noticed, "the server did not drop \(b) from its schedule; log:\n\(server.output.suffix(3000))")
            let listAfterDelete = try await queue("list")
            #expect(!listAfterDelete.stdout.contains(b) && listAfterDelete.stdout.contains(c) && listAfterDelete.stdout.contains("1 message(s) queued"),
                    "\(listAfterDelete.stdout)")

            // retry --all: the rest goes now.
            let retryAll = try await queue("retry", "--all")
            #expect(retryAll.status == 0 && retryAll.stdout.contains("1 message(s) scheduled for immediate retry"), "\(retryAll.stdout)\(retryAll.stderr)")
            let sentC = await queueWait(timeout: .seconds(15)) { fixture.delivered()["tool-c"] != nil && QueueSpoolFiles.records(spool).isEmpty }
            #expect(sentC, "retry --all did not deliver \(c); server log:\n\(server.output.suffix(3000))")
            #expect(fixture.delivered()["tool-b"] == nil, "a deleted message was delivered")
            #expect(fixture.delivered().mapValues(\.count) == ["tool-a": 1, "tool-c": 1])

            // Bad ids and unknown messages: a clear error naming the problem, exit status 1.
            let malformed = try await queue("show", "not-a-queue-id")
            #expect(malformed.status == 1 && malformed.stderr.contains("'not-a-queue-id' is not a queue id"), "\(malformed.status) \(malformed.stderr)")
            let unknown = try await queue("retry", "0123456789ABCDEFGH")
            #expect(unknown.status == 1 && unknown.stderr.contains("no message 0123456789ABCDEFGH in the spool"), "\(unknown.status) \(unknown.stderr)")
            let deletedAgain = try await queue("delete", b)
            #expect(deletedAgain.status == 1 && deletedAgain.stderr.contains("no message \(b) in the spool"), "\(deletedAgain.status) \(deletedAgain.stderr)")
            let delivered = try await queue("show", a)
            #expect(delivered.status == 1 && delivered.stderr.contains("no message \(a) in the spool"), "\(delivered.status) \(delivered.stderr)")
            let badDelete = try await queue("delete", "../../etc/passwd")
            #expect(badDelete.status == 1 && badDelete.stderr.contains("is not a queue id"), "\(badDelete.status) \(badDelete.stderr)")
            let noConfig = try await QueueServerProcess.run(["queue", "list", "--config", fixture.directory + "/missing.yaml"])
            #expect(noConfig.status == 1 && noConfig.stderr.contains("cannot read the configuration file"), "\(noConfig.status) \(noConfig.stderr)")
            #expect(server.isRunning, "the server died; log:\n\(server.output.suffix(3000))")
        }
    }
}
