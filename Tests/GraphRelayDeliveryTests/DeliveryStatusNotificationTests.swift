import Foundation
import Testing

@testable import GraphRelayDelivery
import GraphRelaySpool
import GraphRelaySpoolTestSupport

/// A tiny MIME reader for the tests: splits a multipart body by its boundary.
private struct ParsedDSN {
    let headers: MessageHeaders
    let parts: [(headers: MessageHeaders, body: String)]

    init(_ bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        headers = MessageHeaders(bytes)
        let contentType = try #require(headers.value(of: "Content-Type"))
        let boundary = try #require(contentType.split(separator: "\"").dropFirst().first.map(String.init))
        let sections = text.components(separatedBy: "--\(boundary)")
        #expect(sections.last?.hasPrefix("--\r\n") == true)
        parts = sections.dropFirst().dropLast().map { section in
            let body = String(decoding: Array(section.utf8.dropFirst(2)), as: UTF8.self)  // the CRLF after the boundary line
            let partHeaders = MessageHeaders(Array(body.utf8))
            let start = body.range(of: "\r\n\r\n").map { body[$0.upperBound...] } ?? ""
            return (partHeaders, String(start))
        }
    }
}

@Suite("Delivery status notifications")
struct DeliveryStatusNotificationTests {
    let id = QueueID.make()
    let original = Array("Received: from printer\r\nFrom: Scanner <scanner@printer.local>\r\nTo: alice@contoso.com\r\nSubject: scan\r\nMessage-ID: <scan-1@printer.local>\r\n\r\nbody".utf8)

    func make(expired: Bool = false, to: String = "scanner@printer.local", recipients: [String] = ["alice@contoso.com", "bob@contoso.com"], headers: [UInt8]? = nil) -> DeliveryStatusNotification {
        DeliveryStatusNotification(
            reportingMTA: "relay.example.com",
            from: "noreply@contoso.com",
            to: to,
            queueID: id,
            originalSender: "scanner@printer.local",
            originalRecipients: recipients,
            arrivalDate: Date(timeIntervalSince1970: 1_750_000_000),
            originalHeaders: headers ?? original,
            status: expired ? "4.4.7" : "5.1.1",
            reason: expired ? "message expired: not delivered within 5d; last error: 503" : "ErrorInvalidRecipients:\r\n the mailbox is unknown",
            expired: expired,
            requestId: "b6c2f7c4-0000",
            date: Date(timeIntervalSince1970: 1_750_003_600)
        )
    }

    @Test("multipart/report with a human part, a delivery-status part per recipient and the original headers")
    func shape() throws {
        let bytes = make().render()
        let dsn = try ParsedDSN(bytes)
        #expect(dsn.headers.value(of: "From") == "Mail Delivery System <noreply@contoso.com>")
        #expect(dsn.headers.value(of: "To") == "<scanner@printer.local>")
        #expect(dsn.headers.value(of: "Auto-Submitted") == "auto-replied")
        #expect(dsn.headers.value(of: "MIME-Version") == "1.0")
        #expect(dsn.headers.value(of: "In-Reply-To") == "<scan-1@printer.local>")
        #expect(dsn.headers.value(of: "Date") == "Sun, 15 Jun 2025 16:06:40 +0000")
        #expect(dsn.headers.value(of: "Content-Type")?.hasPrefix("multipart/report; report-type=delivery-status; boundary=") == true)
        #expect(dsn.parts.count == 3)

        #expect(dsn.parts[0].headers.value(of: "Content-Type") == "text/plain; charset=utf-8")
        #expect(dsn.parts[0].body.contains("<alice@contoso.com>"))
        #expect(dsn.parts[0].body.contains("Reason: ErrorInvalidRecipients: the mailbox is unknown"))

        #expect(dsn.parts[1].headers.value(of: "Content-Type") == "message/delivery-status")
        let groups = dsn.parts[1].body.components(separatedBy: "\r\n\r\n").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        #expect(groups.count == 3)  // per-message + two recipients
        let perMessage = MessageHeaders(Array(groups[0].utf8))
        #expect(perMessage.value(of: "Reporting-MTA") == "dns; relay.example.com")
        #expect(perMessage.value(of: "Arrival-Date") == "Sun, 15 Jun 2025 15:06:40 +0000")
        #expect(perMessage.value(of: "X-Graph-Request-ID") == "b6c2f7c4-0000")
        for (index, recipient) in ["alice@contoso.com", "bob@contoso.com"].enumerated() {
            let group = MessageHeaders(Array(groups[index + 1].utf8))
            #expect(group.value(of: "Final-Recipient") == "rfc822; \(recipient)")
            #expect(group.value(of: "Action") == "failed")
            #expect(group.value(of: "Status") == "5.1.1")
            #expect(group.value(of: "Diagnostic-Code") == "smtp; 550 5.1.1 ErrorInvalidRecipients: the mailbox is unknown")
        }

        #expect(dsn.parts[2].headers.value(of: "Content-Type") == "text/rfc822-headers")
        #expect(dsn.parts[2].body.hasPrefix("Received: from printer\r\nFrom: Scanner <scanner@printer.local>\r\n"))
        #expect(dsn.parts[2].body.contains("Message-ID: <scan-1@printer.local>\r\n"))
        #expect(!dsn.parts[2].body.contains("body"))

        // Every line ends in CRLF and stays under 998 characters.
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(text.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 998 })
    }

    @Test("an expired message reports 4.4.7")
    func expired() throws {
        let dsn = try ParsedDSN(make(expired: true).render())
        #expect(dsn.parts[0].body.contains("could not be delivered in time"))
        let group = MessageHeaders(Array(dsn.parts[1].body.components(separatedBy: "\r\n\r\n")[1].utf8))
        #expect(group.value(of: "Status") == "4.4.7")
        #expect(group.value(of: "Action") == "failed")
        #expect(group.value(of: "Diagnostic-Code")?.hasPrefix("smtp; 451 4.4.7 message expired") == true)
    }

    @Test("redirected to the administrator, the notice says who the sender was")
    func redirected() throws {
        let dsn = try ParsedDSN(make(to: "postmaster@contoso.com").render())
        #expect(dsn.headers.value(of: "To") == "<postmaster@contoso.com>")
        #expect(dsn.parts[0].body.contains("the sender was <scanner@printer.local>"))
    }

    @Test("international addresses and 8-bit headers use the RFC 6533 types; bare-LF headers get CRLF")
    func international() throws {
        let headers = Array("From: Jörg <jörg@example.de>\nSubject: Grüße\n\n".utf8)
        let dsn = try ParsedDSN(make(recipients: ["jörg@example.de"], headers: headers).render())
        #expect(dsn.parts[1].headers.value(of: "Content-Type") == "message/global-delivery-status")
        #expect(dsn.parts[1].body.contains("Final-Recipient: utf-8; jörg@example.de"))
        #expect(dsn.parts[2].headers.value(of: "Content-Type") == "message/global-headers")
        #expect(dsn.parts[2].body.hasPrefix("From: Jörg <jörg@example.de>\r\nSubject: Grüße\r\n"))
    }

    @Test("SMTP codes follow the enhanced status", arguments: [("5.1.1", 550), ("5.7.1", 550), ("5.3.4", 552), ("5.6.0", 554), ("4.4.7", 451), ("5.0.0", 554), ("junk", 550)])
    func smtpCodes(_ status: String, _ code: Int) {
        #expect(DeliveryStatusNotification.smtpCode(for: status) == code)
    }
}

@Suite("Bounce policy")
struct BouncePolicyTests {
    let plain = MessageHeaders(Array("From: a@b.c\r\nSubject: x\r\n\r\n".utf8))

    @Test("bounces go to the sender, or to the administrator when configured")
    func destination() {
        #expect(BouncePolicy().decide(sender: "scanner@printer.local", headers: plain) == .send(to: "scanner@printer.local"))
        #expect(BouncePolicy(adminAddress: "postmaster@contoso.com").decide(sender: "scanner@printer.local", headers: plain) == .send(to: "postmaster@contoso.com"))
    }

    @Test("never for the null sender, even with an administrator address", arguments: ["", "<>", "  "])
    func nullSender(_ sender: String) {
        guard case .suppress(let reason) = BouncePolicy(adminAddress: "postmaster@contoso.com").decide(sender: sender, headers: plain) else {
            Issue.record("a bounce for the null sender")
            return
        }
        #expect(reason.contains("null sender"))
    }

    @Test("never for automatic messages or reports (no loops)", arguments: [
        "Auto-Submitted: auto-replied\r\n", "Auto-Submitted: auto-generated\r\n", "auto-submitted: auto-notified; owner-email=x@y\r\n",
        "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=x\r\n",
        "Content-Type: Multipart/Report; report-type=disposition-notification\r\n",
    ])
    func loops(_ header: String) {
        let headers = MessageHeaders(Array("From: a@b.c\r\n\(header)\r\n".utf8))
        guard case .suppress = BouncePolicy().decide(sender: "daemon@contoso.com", headers: headers) else {
            Issue.record("a bounce for a message with \(header)")
            return
        }
    }

    @Test("Auto-Submitted: no is an ordinary message; disabled bounces send nothing")
    func others() {
        let headers = MessageHeaders(Array("Auto-Submitted: no\r\n\r\n".utf8))
        #expect(BouncePolicy().decide(sender: "a@b.c", headers: headers) == .send(to: "a@b.c"))
        #expect(BouncePolicy(enabled: false).decide(sender: "a@b.c", headers: plain) == .suppress(reason: "bounces are disabled"))
    }

    @Test("header parsing unfolds lines and finds the end of the block")
    func headers() {
        let headers = MessageHeaders(Array("Subject: one\r\n two\r\nX-Empty:\r\nTo: a@b\r\n\r\nBody: not a header\r\n".utf8))
        #expect(headers.value(of: "subject") == "one two")
        #expect(headers.value(of: "X-Empty") == "")
        #expect(headers.value(of: "Body") == nil)
        #expect(MessageHeaders.headerLength(of: Array("A: b\n\nbody".utf8)) == 5)
        #expect(MessageHeaders.headerLength(of: Array("A: b\r\nC: d".utf8)) == 10, "no empty line: all of it")
    }
}
