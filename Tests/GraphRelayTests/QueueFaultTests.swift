import Foundation
import GraphEmulator
import GraphRelayTestSupport
import GraphRelaySpool
import Testing
@testable import GraphRelay

/// The queue through the real relay (`delivery: queue`) in this process, against a Graph emulator
/// that throttles, fails, drops connections and loses its token endpoint: nothing accepted is
/// lost, nothing is changed, Graph's limits and Retry-After are respected, storage failures are
/// refused with 451, permanent failures are bounced through Graph.
@Suite("Queue: delivery through Graph faults")
struct QueueFaultTests {
    @Test("429 storm, 503 bursts, dropped connections, token outage: every message delivered intact, <= 4 requests per mailbox")
    func faultStorm() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            let emulator = fixture.emulator

            // Phase 1: Graph is slow, throttles, fails and drops connections. Faults are taken by
            // the next requests in this order (whichever mailbox); afterwards Graph answers 202.
            emulator.injectSendMailFault(.delay(.milliseconds(400)), count: 6)
            emulator.injectSendMailFault(.throttle(retryAfter: "1"), count: 4)
            emulator.injectSendMailFault(.serviceUnavailable(), count: 3)
            emulator.injectSendMailFault(.dropDuringRequest, count: 2)
            emulator.injectSendMailFault(.dropAfterRequest, count: 2)
            emulator.injectSendMailFault(.acceptThenDrop, count: 2)
            emulator.injectSendMailFault(.gatewayTimeout, count: 2)
            emulator.injectSendMailFault(.serviceUnavailable(retryAfter: "1"), count: 2)
            emulator.injectSendMailFault(.delay(.milliseconds(400)), count: 6)
            let faultCount = 6 + 4 + 3 + 2 + 2 + 2 + 2 + 2 + 6

            // 4 printer sessions x 6 messages for relay@, 1 session x 6 for other@, concurrently.
            let senders = [("scanner@printer.test", "p0"), ("scanner@printer.test", "p1"), ("scanner@printer.test", "p2"),
                           ("scanner@printer.test", "p3"), ("device@other.test", "o0")]
            let port = fixture.port
            let phase1 = try await withThrowingTaskGroup(of: [(String, SMTPTestReply, String)].self) { group in
                for (sender, tag) in senders {
                    group.addTask {
                        let session = try await QueueSMTPSession.open(port: port)
                        var results: [(String, SMTPTestReply, String)] = []
                        for index in 0..<6 {
                            let subject = "storm-\(tag)-\(index)"
                            let message = QueueTestMessage.make(from: sender, to: "alice@example.com", subject: subject, bodyLines: 10 + index * 40)
                            results.append((subject, try await session.send(from: sender, to: ["alice@example.com"], message: message), message))
                        }
                        await session.quit()
                        return results
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(phase1.count == 30)
            for (subject, reply, _) in phase1 {
                #expect(reply.code == 250 && reply.queueID != nil, "\(subject): \(reply)")
            }
            let phase1Drained = await fixture.waitForEmptyQueue(timeout: .seconds(40))
            #expect(phase1Drained, "queue not empty after the storm; log:\n\(fixture.capture.tail())")

            // Phase 2: tokens are revoked and the token endpoint is down for three requests.
            let tokenRequestsBefore = emulator.tokenRequestCount
            emulator.revokeAllTokens()
            emulator.injectTokenFault(.outage, count: 2)
            emulator.injectTokenFault(.unavailable, count: 1)
            var phase2: [(String, SMTPTestReply, String)] = []
            let session = try await QueueSMTPSession.open(port: port)
            for index in 0..<6 {
                let subject = "token-outage-\(index)"
                let message = QueueTestMessage.make(from: "scanner@printer.test", to: "bob@example.com", subject: subject)
                phase2.append((subject, try await session.send(from: "scanner@printer.test", to: ["bob@example.com"], message: message), message))
            }
            await session.quit()
            for (subject, reply, _) in phase2 {
                #expect(reply.code == 250 && reply.queueID != nil, "\(subject): \(reply)")
            }
            let phase2Drained = await fixture.waitForEmptyQueue(timeout: .seconds(30))
            #expect(phase2Drained, "queue not empty after the token outage; log:\n\(fixture.capture.tail())")

            // Nothing lost, nothing failed, every copy byte for byte what the client sent.
            #expect(QueueSpoolFiles.files(fixture.spoolDirectory, area: "failed").isEmpty)
            let delivered = fixture.delivered()
            var duplicates = 0
            for (subject, _, original) in phase1 + phase2 {
                let copies = delivered[subject] ?? []
                #expect(!copies.isEmpty, "\(subject) was accepted with 250 but never delivered")
                for copy in copies {
                    #expect(QueueTestMessage.isIntact(copy.mime, original: original), "\(subject) delivered altered:\n\(copy.mimeText.prefix(600))")
                }
                duplicates += max(copies.count - 1, 0)
            }
            #expect(Set(delivered.keys) == Set((phase1 + phase2).map(\.0)), "unexpected deliveries: \(delivered.keys.sorted())")
            // Only the two "accepted, then the connection dropped" requests can duplicate (at-least-once).
            #expect(duplicates == 2)

            // Graph's limit: never more than 4 concurrent requests per mailbox (and there was concurrency to limit).
            let printerPeak = emulator.maxConcurrentSendMail(mailbox: QueueTestRoutes.printerMailbox)
            let otherPeak = emulator.maxConcurrentSendMail(mailbox: QueueTestRoutes.otherMailbox)
            #expect((2...4).contains(printerPeak), "peak concurrency for relay@: \(printerPeak)")
            #expect((1...4).contains(otherPeak), "peak concurrency for other@: \(otherPeak)")

            let metrics = try #require(await fixture.relay?.deliveryMetrics)
            #expect(metrics.delivered == 36)
            #expect(metrics.throttled == 4)
            #expect(metrics.tokenFailures >= 1)
            #expect(metrics.ambiguousRetries >= 4)  // dropAfterRequest and acceptThenDrop at least
            #expect(metrics.failedPermanently == 0 && metrics.expired == 0)
            #expect(emulator.sendMailRequestCount >= 36 + faultCount - 12)  // 12 delays end in 202
            #expect(emulator.tokenRequestCount >= tokenRequestsBefore + 4)  // 3 failed + 1 issued
        }
    }

    @Test("Retry-After of a 429 and of a 503 is honoured: the retry never comes before it")
    func retryAfterHonoured() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            let emulator = fixture.emulator
            emulator.injectSendMailFault(.throttle(retryAfter: "2"), count: 1, mailbox: QueueTestRoutes.slowMailbox)
            emulator.injectSendMailFault(.serviceUnavailable(retryAfter: "2"), count: 1, mailbox: QueueTestRoutes.otherMailbox)

            let (throttledReply, _) = try await fixture.send(from: "clock@slow.test", subject: "retry-after-429")
            let (unavailableReply, _) = try await fixture.send(from: "device@other.test", subject: "retry-after-503")
            let throttledID = try #require(throttledReply.queueID, "\(throttledReply)")
            let unavailableID = try #require(unavailableReply.queueID, "\(unavailableReply)")
            let drained = await fixture.waitForEmptyQueue(timeout: .seconds(20))
            #expect(drained, "log:\n\(fixture.capture.tail())")

            let delivered = fixture.delivered()
            let throttledCopy = try #require(delivered["retry-after-429"]?.first)
            let unavailableCopy = try #require(delivered["retry-after-503"]?.first)
            // The agent logs the outcome before it computes the pause from its own clock.
            let throttleLog = try #require(fixture.capture.entries(
                containing: "Graph throttled the mailbox (429)", metadata: "relay.queue-id", value: throttledID).first,
                "no 429 logged; log:\n\(fixture.capture.tail())")
            let deferLog = try #require(fixture.capture.entries.first { entry in
                entry.metadata["relay.queue-id"] == unavailableID
                    && (entry.message.contains("delivery deferred") || entry.message.contains("delivery outcome unknown"))
            }, "no 503 logged; log:\n\(fixture.capture.tail())")
            let waitedAfter429 = throttledCopy.receivedAt.timeIntervalSince(throttleLog.date)
            let waitedAfter503 = unavailableCopy.receivedAt.timeIntervalSince(deferLog.date)
            #expect(waitedAfter429 >= 2.0, "retried \(waitedAfter429) s after a 429 with Retry-After: 2")
            #expect(waitedAfter503 >= 2.0, "retried \(waitedAfter503) s after a 503 with Retry-After: 2")
            // One failed and one successful request each: no retry slipped in before Retry-After.
            #expect(emulator.sendMailRequestCount == 4)
            #expect(delivered["retry-after-429"]?.count == 1 && delivered["retry-after-503"]?.count == 1)
        }
    }

    @Test("An unwritable spool answers 451 4.3.0, keeps nothing half-written and delivers nothing")
    func unwritableSpool() async throws {
        try await QueueRelayFixture.with { fixture in
            // Without slots every commit goes through tmp/ and a rename (the slots' own failures:
            // SpoolSlotTests).
            try await fixture.start(spool: { $0.slots = 0 })
            let spool = fixture.spoolDirectory
            let files = FileManager.default
            let session = try await QueueSMTPSession.open(port: fixture.port)
            // The server's spares are made in the background after its start: let it finish
            // before tmp/ is taken away.
            let preallocated = await queueWait(timeout: .seconds(30)) {
                QueueSpoolFiles.files(spool, area: "tmp").count == SpoolConfiguration.serverPreallocatedFiles
            }
            #expect(preallocated, "\(QueueSpoolFiles.files(spool, area: "tmp").count) spares")

            // tmp/ becomes a file: the message cannot even be written.
            try files.removeItem(atPath: spool + "/tmp")
            #expect(files.createFile(atPath: spool + "/tmp", contents: Data("not a directory\n".utf8)))
            let lost1 = QueueTestMessage.make(from: "scanner@printer.test", to: "alice@example.com", subject: "unwritable-tmp")
            let reply1 = try await session.send(from: "scanner@printer.test", to: ["alice@example.com"], message: lost1)
            #expect(reply1.code == 451 && reply1.enhancedStatus == "4.3.0", "\(reply1)")
            try files.removeItem(atPath: spool + "/tmp")
            try files.createDirectory(atPath: spool + "/tmp", withIntermediateDirectories: false)

            // queue/ becomes a file: written and fsynced in tmp/, but the commit's rename fails.
            try files.moveItem(atPath: spool + "/queue", toPath: spool + "/queue.aside")
            #expect(files.createFile(atPath: spool + "/queue", contents: Data("not a directory\n".utf8)))
            let lost2 = QueueTestMessage.make(from: "scanner@printer.test", to: "alice@example.com", subject: "unwritable-queue")
            let reply2 = try await session.send(from: "scanner@printer.test", to: ["alice@example.com"], message: lost2)
            #expect(reply2.code == 451 && reply2.enhancedStatus == "4.3.0", "\(reply2)")
            #expect(QueueSpoolFiles.files(spool, area: "tmp").isEmpty, "half-written files left: \(QueueSpoolFiles.files(spool, area: "tmp"))")
            try files.removeItem(atPath: spool + "/queue")
            try files.moveItem(atPath: spool + "/queue.aside", toPath: spool + "/queue")
            #expect(QueueSpoolFiles.messageFiles(spool).isEmpty)

            // The session goes on: the next message is queued and delivered, the refused ones never.
            let kept = QueueTestMessage.make(from: "scanner@printer.test", to: "alice@example.com", subject: "unwritable-after")
            let reply3 = try await session.send(from: "scanner@printer.test", to: ["alice@example.com"], message: kept)
            #expect(reply3.code == 250 && reply3.queueID != nil, "\(reply3)")
            await session.quit()
            let arrived = await queueWait(timeout: .seconds(20)) { fixture.delivered()["unwritable-after"] != nil }
            #expect(arrived, "log:\n\(fixture.capture.tail())")
            #expect(await fixture.waitForEmptyQueue())
            #expect(fixture.emulator.acceptedMessages.count == 1)
            #expect(fixture.delivered()["unwritable-tmp"] == nil && fixture.delivered()["unwritable-queue"] == nil)
            let errors = fixture.capture.entries(containing: "cannot queue the message")
            #expect(errors.count == 2 && errors.allSatisfy { $0.level == .error }, "\(errors)")
            // The log names the failing call, the path and the system's reason.
            #expect(errors.allSatisfy { $0.message.contains("spool I/O error") && $0.message.contains("Not a directory") }, "\(errors)")
        }
    }

    @Test("A permanent failure goes to failed/ with Graph's reason and request-id; the sender gets a DSN through Graph")
    func permanentFailureBounces() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            // relay@contoso.test may send as scanner@printer.test only: this From is refused (403).
            let (reply, original) = try await fixture.send(from: "intruder@printer.test", subject: "denied-1")
            let id = try #require(reply.queueID, "\(reply)")
            let settled = await queueWait(timeout: .seconds(20)) {
                QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed")[id] != nil
                    && QueueSpoolFiles.records(fixture.spoolDirectory).isEmpty
                    && fixture.emulator.acceptedMessages.count == 1
            }
            #expect(settled, "log:\n\(fixture.capture.tail())")

            let record = try #require(QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed")[id])
            #expect(record["state"] as? String == "failed")
            #expect(record["failureStatus"] as? String == "5.7.1")
            #expect((record["failureReason"] as? String)?.contains("does not have the right to send") == true, "\(record)")
            #expect((record["lastRequestId"] as? String)?.isEmpty == false, "\(record)")
            let bounceID = try #require(record["bounceId"] as? String, "\(record)")
            #expect(QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed").count == 1, "the notification itself failed")

            // The delivery status notification went through Graph, from the route's mailbox to the sender.
            let notification = try #require(fixture.emulator.acceptedMessages.first)
            #expect(notification.mailbox == QueueTestRoutes.printerMailbox)
            #expect(notification.to == ["intruder@printer.test"])
            #expect(notification.from == QueueTestRoutes.printerMailbox)
            let text = notification.mimeText
            #expect(text.contains("multipart/report") && text.contains("report-type=delivery-status"), "\(text.prefix(800))")
            #expect(text.contains("Status: 5.7.1"))
            #expect(text.contains("Action: failed"))
            #expect(text.contains("Final-Recipient: rfc822; alice@example.com"))
            #expect(text.contains("Subject: denied-1"), "the original header block is attached")
            #expect(text.contains(id))
            #expect(!text.contains(original.components(separatedBy: "\r\n\r\n")[1]), "the body is not returned")
            #expect(QueueTestMessage.header("Auto-Submitted", in: notification.mime) == "auto-replied")
            // The notification was delivered (it is neither queued nor failed).
            #expect(QueueSpoolFiles.records(fixture.spoolDirectory)[bounceID] == nil)
            #expect(QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed")[bounceID] == nil)
            let metrics = try #require(await fixture.relay?.deliveryMetrics)
            #expect(metrics.failedPermanently == 1 && metrics.bouncesQueued == 1 && metrics.delivered == 1)
        }
    }

    @Test("Unknown mailbox (404): failed/ with 5.1.1; its notification fails too and is never bounced (no loop)")
    func unknownMailboxNoBounceLoop() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            let (reply, _) = try await fixture.send(from: "device@ghost.test", subject: "ghost-1")
            let id = try #require(reply.queueID, "\(reply)")
            let settled = await queueWait(timeout: .seconds(20)) {
                let failed = QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed")
                return failed.count == 2 && failed.values.allSatisfy { $0["bounceId"] != nil || $0["bounceSuppressed"] != nil }
                    && QueueSpoolFiles.records(fixture.spoolDirectory).isEmpty
            }
            #expect(settled, "log:\n\(fixture.capture.tail())")
            let failed = QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed")
            let original = try #require(failed[id])
            #expect(original["failureStatus"] as? String == "5.1.1")
            #expect((original["failureReason"] as? String)?.contains(QueueTestRoutes.ghostMailbox) == true, "\(original)")
            let bounceID = try #require(original["bounceId"] as? String)
            let bounce = try #require(failed[bounceID])
            #expect(bounce["sender"] as? String == "")
            #expect(bounce["recipients"] as? [String] == ["device@ghost.test"])
            #expect(bounce["bounceId"] == nil)
            #expect((bounce["bounceSuppressed"] as? String)?.isEmpty == false)
            #expect(fixture.emulator.acceptedMessages.isEmpty)
            #expect(fixture.emulator.sendMailRequestCount == 2)
        }
    }
}
