import Foundation
import GraphRelayDelivery
import GraphRelayTestSupport
import Testing
@testable import GraphRelay

/// The status page (`GET /` on the admin listener): rendered by a running relay after real
/// deliveries, loaded by headless Chromium, and its text read back from the DOM Chromium built.
@Suite("Status page", .timeLimit(.minutes(3)))
struct StatusPageTests {
    @Test("headless Chromium shows the queue, the last hour, the application's token and the last deliveries with their Graph request-ids")
    func inChromium() async throws {
        try await QueueRelayFixture.with { fixture in
            let service = try await fixture.start()
            let port = try #require(service.adminAddress?.port)
            var queueIDs: [String] = []
            for index in 0..<2 {
                let reply = try await QueueSMTPSession.sendOne(
                    port: fixture.port, from: "scanner@printer.test", to: ["a@example.com"],
                    message: QueueTestMessage.make(from: "scanner@printer.test", to: "a@example.com", subject: "status \(index)")
                )
                queueIDs.append(try #require(reply.queueID, "\(reply)"))
            }
            _ = try await QueueSMTPSession.sendOne(
                port: fixture.port, from: "nobody@ghost.test", to: ["a@example.com"],
                message: QueueTestMessage.make(from: "nobody@ghost.test", to: "a@example.com", subject: "status ghost")
            )
            let delivered = await queueWait { fixture.emulator.messages(for: QueueTestRoutes.printerMailbox).count == 2 }
            #expect(delivered)
            let requestIDs = fixture.emulator.messages(for: QueueTestRoutes.printerMailbox).map(\.requestID)
            #expect(requestIDs.count == 2)
            _ = await queueWait { service.history.recent().count >= 3 }
            // The page counts failed/ as it is when rendered: wait for both failures (the ghost
            // message and its bounce) to be there, not only for the history to show them.
            let bothFailed = await queueWait {
                QueueSpoolFiles.files(fixture.spoolDirectory, area: "failed").filter { $0.hasSuffix(".eml") }.count == 2
            }
            #expect(bothFailed, "\(QueueSpoolFiles.files(fixture.spoolDirectory, area: "failed"))")

            let dom = try await Self.chromiumDOM(url: "http://127.0.0.1:\(port)/")
            let text = Self.visibleText(dom)
            #expect(text.contains("graph-relay \(GraphRelayVersion.current) on relay.queue-e2e.test"), "\(text)")
            #expect(text.contains("Ready"))
            #expect(Self.rows(of: "queue", in: dom).contains(["failed", "2"]), "\(Self.rows(of: "queue", in: dom))")
            #expect(Self.rows(of: "last-hour", in: dom).last == ["2", "0", "2"], "\(Self.rows(of: "last-hour", in: dom))")
            #expect(Self.rows(of: "tokens", in: dom).contains { $0.first == "contoso" && $0.dropFirst().first == "ok" })
            let deliveries = Self.rows(of: "deliveries", in: dom)
            for (queueID, requestID) in zip(queueIDs, requestIDs.reversed()) {
                let row = try #require(deliveries.first { $0.dropFirst().first == queueID }, "\(deliveries)")
                #expect(row[2] == "scanner@printer.test" && row[3] == QueueTestRoutes.printerMailbox && row[6] == "delivered", "\(row)")
                #expect(requestIDs.contains(row[7]), "\(row) \(requestID)")
            }
            #expect(deliveries.contains { $0[3] == QueueTestRoutes.ghostMailbox && $0[6] == "failed" })
        }
    }

    @Test("what a client sent is shown as text, never as markup, and control characters are escaped")
    func escaping() {
        let report = DeliveryReport(
            queueID: "Q1", messageID: nil, sender: "<script>alert(1)</script>\u{1B}[31m@x", recipients: 1, size: 1, application: "contoso",
            mailbox: "m@x", attempt: 1, receivedAt: Date(), finishedAt: Date(), outcome: .transient(reason: "x", ambiguous: true, requestId: "r\"'&")
        )
        let html = StatusPage.render(StatusPage.Snapshot(
            now: Date(), version: "1", hostname: "h", readiness: ReadinessReport(checks: []), queue: nil, failed: nil,
            lastHour: .init(), tokens: [], recent: [report]
        ))
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\x1B[31m@x"))
        #expect(html.contains("r&quot;&#39;&amp;"))
        #expect(html.contains("delivery: synchronous"))
        #expect(html.contains("ambiguous"))
    }

    // MARK: Helpers

    /// The DOM headless Chromium built from `url`.
    static func chromiumDOM(url: String) async throws -> String {
        let profile = NSTemporaryDirectory() + "graph-relay-chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let result = try await ProcessRunner.run("chromium", [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)", "--dump-dom", url,
        ], timeout: 90)
        #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        return result.stdout
    }

    /// The text of the document with tags removed and entities decoded (the five HTML ones).
    static func visibleText(_ dom: String) -> String {
        decode(dom.replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression))
    }

    /// The cells of each row of the table with this id.
    static func rows(of id: String, in dom: String) -> [[String]] {
        guard let start = dom.range(of: "<table id=\"\(id)\""), let end = dom.range(of: "</table>", range: start.upperBound..<dom.endIndex) else {
            return []
        }
        let table = String(dom[start.upperBound..<end.lowerBound])
        return table.components(separatedBy: "<tr>").dropFirst().compactMap { row -> [String]? in
            let cells = row.components(separatedBy: "<td>").dropFirst().map { cell in
                decode((cell.components(separatedBy: "</td>").first ?? "")
                    .replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression))
            }
            return cells.isEmpty ? nil : cells
        }
    }

    private static func decode(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
