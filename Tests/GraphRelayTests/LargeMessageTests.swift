import Foundation
import GraphEmulator
import GraphRelayTestSupport
import NIOCore
import Testing
@testable import GraphRelay

/// Messages above one sendMail request (docs/graph.md, "Large messages: the draft path"): through a draft, its large parts as
/// attachments, exactly once — end to end from a real SMTP client (Python's smtplib) through the
/// relay's spool to the emulator over HTTPS, checked with an independent MIME parser.
@Suite("Large messages: drafts, attachments and upload sessions, exactly once", .timeLimit(.minutes(10)))
struct LargeMessageTests {
    typealias F = LargeMessageFixtures
    static let sender = "scanner@printer.test"
    static let mailbox = QueueTestRoutes.printerMailbox

    /// Sends `data` with smtplib (no TLS) and returns its reply status (`250 2.0.0`).
    static func send(_ fixture: QueueRelayFixture, _ data: [UInt8], to: [String] = ["alice@example.com"],
                     mailOptions: [String] = []) async throws -> EndToEndClients.SMTPResult {
        // Generous: on a loaded machine a debug build takes its time for 36 MB.
        let results = try await EndToEndClients.smtplib(.plain, port: fixture.port, authenticate: false, messages: [
            EndToEndMessage(from: sender, to: to, data: data, mailOptions: mailOptions),
        ], timeout: 240)
        return try #require(results.first)
    }

    static func outbox() -> String {
        NSTemporaryDirectory() + "graph-relay-outbox-\(UUID().uuidString)"
    }

    @Test("a 14 MB scan with two PDFs arrives with every attachment bit for bit, headers and Message-ID kept, envelope-only recipients in Bcc, no draft left")
    func scan() async throws {
        let outbox = Self.outbox()
        defer { try? FileManager.default.removeItem(atPath: outbox) }
        try await QueueRelayFixture.with(emulator: { $0.outboxDirectory = outbox }) { fixture in
            try await fixture.start()
            let pdfs = [F.bytes(5_000_000, seed: 1), F.bytes(5_300_000, seed: 2)]
            let message = F.scan(from: Self.sender, to: "alice@example.com", messageID: "<scan-14mb@printer.test>", pdfs: pdfs)
            #expect(message.count > 14_000_000)
            let reply = try await Self.send(fixture, message, to: ["alice@example.com", "carol@example.com"])
            #expect(reply.status == "250 2.0.0", "\(reply)")
            #expect(await fixture.waitForEmptyQueue(timeout: .seconds(180)))

            let emulator = fixture.emulator
            let sent = try #require(emulator.acceptedMessages.first)
            #expect(emulator.acceptedMessages.count == 1)
            #expect(sent.submission == "mimeDraft")
            #expect(emulator.sendMailRequestCount == 0 && emulator.draftCount() == 0)
            #expect(emulator.requestCount(.createUploadSession) == 2)
            #expect(sent.attachments.map(\.name) == ["scan 1.pdf", "Rechnung März.pdf"])
            #expect(sent.attachments.map(\.content) == pdfs)
            #expect(sent.bcc == ["carol@example.com"])

            // What recipients get, read by Python's email package.
            let parsed = try await F.parse(try #require(sent.outboxPath))
            #expect(parsed.headers["message-id"] == ["<scan-14mb@printer.test>"])
            #expect(parsed.headers["subject"] == ["Scan – Facture"])
            #expect(parsed.headers["x-printer"] == ["MFP-4000 (building 2)"])
            #expect(parsed.headers["bcc"] == ["carol@example.com"])
            #expect(parsed.headers["received"]?.count == 1)
            #expect(parsed.attachments.map(\.sha256) == [F.sha256(F.bytes(2000, seed: 99))] + pdfs.map(F.sha256))
            #expect(parsed.attachments.map(\.filename) == [nil, "scan 1.pdf", "Rechnung März.pdf"])
            #expect(parsed.attachments.first?.contentID == "logo@mfp")
            #expect(parsed.texts.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                    == ["Your scan – 2 documents.", #"<p>Your scan &ndash; 2 documents <img src="cid:logo@mfp"></p>"#])
        }
    }

    // A message that grows past the limit during DATA is read to its end and refused with 552 5.3.4
    // (SMTPSessionStateMachineTests, SMTPServerTests); here, what a client learns first.
    @Test("EHLO advertises SIZE 36700160 (35 MiB); MAIL FROM … SIZE= above it gets 552 5.3.4 before any data")
    func sizeLimit() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            let session = try await QueueSMTPSession.open(port: fixture.port)
            let ehlo = try await session.client.command("EHLO size.test")
            #expect(ehlo.lines.contains("SIZE 36700160"))
            let tooBig = try await session.client.command("MAIL FROM:<\(Self.sender)> SIZE=36700161")
            #expect(tooBig.code == 552 && tooBig.lines.last?.hasPrefix("5.3.4") == true)
            let fits = try await session.client.command("MAIL FROM:<\(Self.sender)> SIZE=36700160")
            #expect(fits.code == 250)
            await session.quit()
        }
    }

    /// A message with one attachment of `size` bytes (an upload session above 3 MiB).
    static func withAttachment(_ size: Int, seed: UInt64 = 3, subject: String = "one") -> ([UInt8], [UInt8]) {
        let pdf = F.bytes(size, seed: seed)
        let message = F.scan(from: sender, to: "alice@example.com", messageID: "<\(subject)@printer.test>", pdfs: [pdf], subject: subject)
        return (message, pdf)
    }

    @Test("two failed chunks are survived: the upload goes on from the session's nextExpectedRanges")
    func failedChunks() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            fixture.emulator.injectFault(.serviceUnavailable(retryAfter: "0"), on: .uploadChunk)
            fixture.emulator.injectFault(.dropAfterRequest, on: .uploadChunk)
            let (message, pdf) = Self.withAttachment(7_000_000)
            #expect(try await Self.send(fixture, message).status == "250 2.0.0")
            #expect(await fixture.waitForEmptyQueue(timeout: .seconds(180)))
            let sent = fixture.emulator.acceptedMessages
            #expect(sent.count == 1 && sent.first?.attachments.first?.content == pdf)
            #expect(fixture.emulator.requestCount(.uploadStatus) == 2)
            #expect(fixture.emulator.requestCount(.createDraft) == 1)  // one attempt did it all
        }
    }

    @Test("a lost answer to send: the next attempt finds the draft sent and does not send it again — exactly one message")
    func lostSendAnswer() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            fixture.emulator.injectFault(.acceptThenDrop, on: .sendDraft)
            let (message, pdf) = Self.withAttachment(3_500_000, subject: "lost")
            #expect(try await Self.send(fixture, message).status == "250 2.0.0")
            #expect(await fixture.waitForEmptyQueue(timeout: .seconds(180)))
            #expect(fixture.emulator.acceptedMessages.count == 1)
            #expect(fixture.emulator.acceptedMessages.first?.attachments.first?.content == pdf)
            #expect(fixture.emulator.requestCount(.sendDraft) == 1)
            #expect(fixture.emulator.requestCount(.draftState) == 1)
            #expect(fixture.capture.lines.contains { $0.contains("sent by an earlier attempt whose answer was lost") })
        }
    }

    @Test("graph.sendVia: drafts — a small message goes through a draft too, and a lost send answer still yields one message")
    func smallViaDrafts() async throws {
        try await QueueRelayFixture.with(extraYAML: "graph: { sendVia: drafts }") { fixture in
            try await fixture.start()
            fixture.emulator.injectFault(.acceptThenDrop, on: .sendDraft)
            let (reply, original) = try await fixture.send(from: Self.sender, subject: "small-draft")
            #expect(reply.code == 250)
            #expect(await fixture.waitForEmptyQueue(timeout: .seconds(30)))
            let sent = fixture.emulator.acceptedMessages
            #expect(sent.count == 1 && sent.first?.submission == "mimeDraft")
            #expect(QueueTestMessage.isIntact(sent.first?.mime ?? [], original: original))
            #expect(fixture.emulator.sendMailRequestCount == 0)
        }
    }

    @Test("Graph refuses attachments on MIME drafts: the draft is deleted, the message built as JSON (remembered for the next ones)")
    func jsonFallback() async throws {
        try await QueueRelayFixture.with(emulator: { $0.refusesAttachmentsOnMIMEDrafts = true }) { fixture in
            try await fixture.start()
            let (first, pdf) = Self.withAttachment(4_000_000, subject: "json-1")
            #expect(try await Self.send(fixture, first).status == "250 2.0.0")
            #expect(await fixture.waitForEmptyQueue(timeout: .seconds(180)))
            let (second, _) = Self.withAttachment(3_200_000, seed: 4, subject: "json-2")
            #expect(try await Self.send(fixture, second).status == "250 2.0.0")
            #expect(await fixture.waitForEmptyQueue(timeout: .seconds(180)))

            let sent = fixture.emulator.acceptedMessages
            #expect(sent.map(\.submission) == ["jsonDraft", "jsonDraft"])
            // One refused MIME draft, then JSON drafts only.
            #expect(fixture.emulator.requestCount(.createDraft) == 3)
            #expect(fixture.emulator.draftCount() == 0)
            let message = try #require(sent.first)
            // The inline logo and the PDF are attachments; the HTML body is the body.
            #expect(message.attachments.map(\.name) == ["attachment-1.png", "scan 1.pdf"])
            #expect(message.attachments.first?.isInline == true && message.attachments.first?.contentID == "logo@mfp")
            #expect(message.attachments.last?.content == pdf)
            let text = message.mimeText
            #expect(text.contains("Message-ID: <json-1@printer.test>") && text.contains("X-Printer: MFP-4000 (building 2)"))
            #expect(text.contains("Subject: json-1") && text.contains("Content-Type: text/html; charset=utf-8"))
            #expect(fixture.capture.lines.filter { $0.contains("now built as JSON drafts") }.count == 1)
        }
    }

    @Test("a malformed message too large for one request fails permanently with a bounce that names the reason; nothing is left in Graph")
    func malformed() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            // The closing boundary is missing: which bytes belong to the attachment is not certain.
            var (message, _) = Self.withAttachment(4_000_000, subject: "broken")
            message.removeLast("--==scan==--\r\n".utf8.count)
            #expect(try await Self.send(fixture, message).status == "250 2.0.0")
            #expect(await queueWait(timeout: .seconds(180)) {
                QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed").count == 1 && fixture.emulator.acceptedMessages.count == 1
            })
            let failed = try #require(QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed").values.first)
            #expect(failed["failureStatus"] as? String == "5.6.0")
            #expect((failed["failureReason"] as? String)?.contains("no closing boundary") == true)
            let bounce = try #require(fixture.emulator.acceptedMessages.first)
            #expect(bounce.to == [Self.sender])
            #expect(bounce.mimeText.contains("malformed MIME") && bounce.mimeText.contains("no closing boundary"))
            #expect(fixture.emulator.requestCount(.createDraft) == 0 && fixture.emulator.draftCount() == 0)
        }
    }

    @Test("the mailbox's own size limit (ErrorMessageSizeExceeded): a permanent failure, the draft deleted, a bounce that says so")
    func mailboxLimit() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            fixture.emulator.injectFault(.error(status: 400, code: "ErrorMessageSizeExceeded", message: "The message exceeds the maximum supported size."),
                                         on: .sendDraft)
            let (message, _) = Self.withAttachment(3_300_000, subject: "too-big")
            #expect(try await Self.send(fixture, message).status == "250 2.0.0")
            #expect(await queueWait(timeout: .seconds(180)) {
                QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed").count == 1 && fixture.emulator.acceptedMessages.count == 1
            })
            let failed = try #require(QueueSpoolFiles.records(fixture.spoolDirectory, area: "failed").values.first)
            #expect(failed["failureStatus"] as? String == "5.3.4")
            #expect(failed["draft"] == nil)
            #expect(fixture.emulator.draftCount() == 0 && fixture.emulator.requestCount(.deleteDraft) == 1)
            #expect(fixture.emulator.acceptedMessages.first?.mimeText.contains("exceeds the maximum supported size") == true)
        }
    }

    @Test("delivery: synchronous — the device hears 250 only after Graph sent the draft; a failed attempt leaves no draft, and an unanswered send that went through is a 250")
    func synchronous() async throws {
        let sender = "scanner@\(EndToEnd.domain)"
        let pdf = F.bytes(3_400_000, seed: 8)
        func message(_ subject: String) -> [UInt8] {
            F.scan(from: sender, to: "bob@example.net", messageID: "<\(subject)@e2e>", pdfs: [pdf], subject: subject)
        }
        try await EndToEndRelay.run { harness in
            let emulator = harness.emulator
            func send(_ data: [UInt8]) async throws -> String {
                try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [
                    EndToEndMessage(from: sender, to: ["bob@example.net"], data: data),
                ], timeout: 240).first?.status ?? "none"
            }
            let ok = try await send(message("sync-ok"))
            #expect(ok == "250 2.0.0")
            #expect(emulator.acceptedMessages.count == 1 && emulator.acceptedMessages.first?.attachments.first?.content == pdf)

            // Graph unavailable at the send: the device is told to retry, and the draft is gone.
            emulator.injectFault(.serviceUnavailable(retryAfter: nil), on: .sendDraft)
            let unavailable = try await send(message("sync-503"))
            #expect(unavailable == "451 4.4.5")
            #expect(emulator.draftCount() == 0 && emulator.acceptedMessages.count == 1)

            // The send went through but its answer was lost: the check finds it sent, so 250.
            emulator.injectFault(.acceptThenDrop, on: .sendDraft)
            let lost = try await send(message("sync-lost"))
            #expect(lost == "250 2.0.0")
            #expect(emulator.acceptedMessages.count == 2 && emulator.draftCount() == 0)
        }
    }

    @Test("a burst of large scans is paced to the mailbox's upload budget: no upload is throttled (without pacing, Graph's limit is hit)")
    func uploadBudget() async throws {
        // Graph's budget (150 MB in 5 minutes), scaled down: 8 MB in 3 s, in the emulator and the relay.
        for paced in [true, false] {
            try await QueueRelayFixture.with(emulator: { $0.uploadLimit = (bytes: 8_000_000, seconds: 3) }) { fixture in
                try await fixture.start { agent in
                    agent.scheduler.uploadBytesPerWindow = paced ? 8_000_000 : 0
                    agent.scheduler.uploadWindow = .seconds(3)
                }
                let scans = (0..<3).map { Self.withAttachment(3_300_000, seed: UInt64(40 + $0), subject: "burst-\(paced)-\($0)").0 }
                let replies = try await withThrowingTaskGroup(of: String.self) { group in
                    for scan in scans { group.addTask { try await Self.send(fixture, scan).status } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(replies == ["250 2.0.0", "250 2.0.0", "250 2.0.0"])
                #expect(await fixture.waitForEmptyQueue(timeout: .seconds(180)))
                let emulator = fixture.emulator
                #expect(emulator.acceptedMessages.count == 3)
                // A throttled chunk makes the relay ask the upload session where it stands.
                if paced {
                    #expect(emulator.requestCount(.uploadStatus) == 0, "paced uploads were throttled")
                    // Each scan (~4.5 MB as sent) fills more than half the budget, so they start a
                    // window apart (0, 3 and 6 s): measured where each delivery starts, its draft,
                    // which a busy machine can only delay, never bring forward.
                    let starts = emulator.requestTimes(.createDraft)
                    #expect(starts.count == 3, "\(starts)")
                    if starts.count == 3 {
                        #expect(starts[1].timeIntervalSince(starts[0]) >= 2.5 && starts[2].timeIntervalSince(starts[0]) >= 5.5,
                                "scans started at +0, +\(starts[1].timeIntervalSince(starts[0])), +\(starts[2].timeIntervalSince(starts[0])) s")
                    }
                } else {
                    #expect(emulator.requestCount(.uploadStatus) > 0, "without pacing the burst was expected to meet Graph's limit")
                }
            }
        }
    }
}
