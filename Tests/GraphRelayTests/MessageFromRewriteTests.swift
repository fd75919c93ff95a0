import GraphRelayMIME
import Testing
@testable import GraphRelay

@Suite("Message From rewrite")
struct MessageFromRewriteTests {
    let mailbox = "noreply@contoso.com"

    func from(_ fromField: String) throws -> String {
        let (output, _) = try rewritten("\(fromField)\r\nTo: a@x.y\r\n\r\nbody", HeaderRewriteOptions(rewriteFrom: mailbox))
        let line = output.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("from:") }
        return line ?? "<none>"
    }

    @Test("a display name is kept byte for byte")
    func keepsDisplayName() throws {
        #expect(try from("From: Scanner Floor 2 <scanner@printer.local>") == "From: Scanner Floor 2 <noreply@contoso.com>")
        #expect(try from("From: \"RICOH MP C3004\" <scanner@printer.local>") == "From: \"RICOH MP C3004\" <noreply@contoso.com>")
        #expect(try from("From: =?UTF-8?Q?B=C3=BCro_Drucker?= <x@printer.local>") == "From: =?UTF-8?Q?B=C3=BCro_Drucker?= <noreply@contoso.com>")
    }

    @Test("no display name: the device address becomes a safe display name")
    func addressAsDisplayName() throws {
        #expect(try from("From: scanner@printer.local") == "From: \"scanner at printer.local\" <noreply@contoso.com>")
        #expect(try from("From: <scanner@printer.local>") == "From: \"scanner at printer.local\" <noreply@contoso.com>")
    }

    @Test("display names containing @ are made safe: quoted, unquoted, encoded, escaped")
    func atInDisplayName() throws {
        #expect(try from("From: \"scanner@printer.local\" <scanner@printer.local>") == "From: \"scanner at printer.local\" <noreply@contoso.com>")
        #expect(try from("From: scanner@printer.local <scanner@printer.local>") == "From: \"scanner at printer.local\" <noreply@contoso.com>")
        #expect(try from("From: \"a\\\"b@c\" <x@y.z>") == "From: \"a\\\"b at c\" <noreply@contoso.com>")
        // RFC 2047 word hiding an @: decoded, replaced, re-encoded as UTF-8.
        let encoded = try from("From: =?UTF-8?B?YsO8cm9AcHJpbnRlcg==?= <x@y.z>")
        #expect(!encoded.contains("@printer"))
        let value = String(encoded.dropFirst("From: ".count))
        let parsed = AddressListParser.parse(bytes(value))
        #expect(parsed.first?.displayName == "büro at printer")
        #expect(parsed.first?.addrSpec == mailbox)
    }

    @Test("a trailing comment serves as display name")
    func comment() throws {
        #expect(try from("From: scanner@printer.local (Floor 2 Scanner)") == "From: \"Floor 2 Scanner\" <noreply@contoso.com>")
    }

    @Test("folded From with odd field-name case is replaced by one line, name case kept")
    func folded() throws {
        #expect(try from("FROM: Scanner\r\n <scanner@printer.local>") == "FROM: Scanner <noreply@contoso.com>")
    }

    @Test("no From: one is added; From already the mailbox: nothing changes")
    func missingAndAlreadyDone() throws {
        let (added, result) = try rewritten("To: a@x.y\r\n\r\n", HeaderRewriteOptions(rewriteFrom: mailbox))
        #expect(added == "To: a@x.y\r\nFrom: noreply@contoso.com\r\n\r\n")
        #expect(result.from?.changed == true)
        #expect(result.from?.originalValue == nil)
        let same = "From: No Reply <NoReply@Contoso.com>\r\nSender: x@y.z\r\n\r\n"
        let (output, sameResult) = try rewritten(same, HeaderRewriteOptions(rewriteFrom: mailbox))
        #expect(output == same)
        #expect(sameResult.from?.changed == false)
    }

    @Test("Sender fields and extra From fields are removed")
    func senderRemoved() throws {
        let (output, result) = try rewritten("From: a@printer.local\r\nSender: a@printer.local\r\nFrom: b@printer.local\r\nTo: x@y.z\r\n\r\n",
                                             HeaderRewriteOptions(rewriteFrom: mailbox))
        #expect(output == "From: \"a at printer.local\" <noreply@contoso.com>\r\nTo: x@y.z\r\n\r\n")
        #expect(result.from?.removedSenderFields == 1)
        #expect(result.from?.originalValue == "a@printer.local")
    }

    @Test("non-ASCII constructed display names are RFC 2047 encoded")
    func nonASCIIConstructed() throws {
        let line = try from("From: \"Büro@Drucker\" <x@y.z>")
        #expect(line.hasPrefix("From: =?UTF-8?B?"))
        let parsed = AddressListParser.parse(bytes(String(line.dropFirst(6))))
        #expect(parsed.first?.displayName == "Büro at Drucker")
    }

    @Test("LF-only messages keep LF in the rewritten From")
    func lf() throws {
        var (head, body) = try parseHead("From: a@p.l\nTo: x@y.z\n\nbody\n")
        head.rewriteFrom(to: mailbox)
        #expect(text(head.bytes + body) == "From: \"a at p.l\" <noreply@contoso.com>\nTo: x@y.z\n\nbody\n")
    }
}

@Suite("Message-ID and combined rewrite")
struct MessageIDTests {
    @Test("a missing Message-ID is added with the domain; an existing one is kept")
    func addMissing() throws {
        var (head, _) = try parseHead("Subject: x\r\n\r\n")
        let (id, added) = head.addMessageIDIfMissing(domain: "relay.example.com")
        #expect(added)
        #expect(id.hasPrefix("<") && id.hasSuffix("@relay.example.com>"))
        #expect(head.messageID == id)
        #expect(text(head.bytes) == "Subject: x\r\nMessage-ID: \(id)\r\n\r\n")
        let again = head.addMessageIDIfMissing(domain: "relay.example.com")
        #expect(again == (id, false))

        var (existing, _) = try parseHead("Message-Id: <abc@host>\r\n\r\n")
        #expect(existing.addMessageIDIfMissing(domain: "x.y") == ("<abc@host>", false))
        #expect(text(existing.bytes) == "Message-Id: <abc@host>\r\n\r\n")
    }

    @Test("an empty Message-ID field is filled in place; a bad domain is replaced")
    func emptyAndBadDomain() throws {
        var (head, _) = try parseHead("Message-ID:\r\nSubject: x\r\n\r\n")
        let (id, added) = head.addMessageIDIfMissing(domain: "bad domain!")
        #expect(added)
        #expect(id.hasSuffix("@graph-relay.invalid>"))
        #expect(text(head.bytes) == "Message-ID: \(id)\r\nSubject: x\r\n\r\n")
    }

    @Test("generated Message-IDs are unique")
    func unique() {
        let ids = (0..<1000).map { _ in MessageHead.makeMessageID(domain: "x.y") }
        #expect(Set(ids).count == 1000)
    }

    @Test("combined rewrite of a real-world scan-to-email message")
    func printerMessage() throws {
        let subject: [UInt8] = bytes("Subject: Scan von Ger") + [0xE4] + bytes("t\r\n")
        let original: [UInt8] = bytes("Return-Path: <scanner@printer.local>\r\n")
            + bytes("Date: Mon, 2 Jun 2025 10:00:00 +0200\r\n")
            + bytes("From: \"scanner@printer.local\" <scanner@printer.local>\r\n")
            + bytes("To: user1@contoso.com;user2@contoso.com\r\n")
            + subject
            + bytes("MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"=_NextPart_\"\r\nX-Mailer: RICOH\r\n\r\n")
        let body = bytes("--=_NextPart_\r\nContent-Type: application/pdf\r\n\r\nJVBERi0=\r\n--=_NextPart_--\r\n")
        var (head, offset) = try MessageHead.parse(original + body, isComplete: true)
        #expect(offset == original.count)
        let result = head.rewrite(HeaderRewriteOptions(
            envelopeRecipients: ["user1@contoso.com", "user2@contoso.com", "archive@contoso.com"],
            rewriteFrom: "scanner@contoso.com",
            messageIDDomain: "relay.contoso.com"))
        #expect(result.recipients.addedToBcc == ["archive@contoso.com"])
        #expect(result.addedMessageID)
        let output = head.bytes + body
        let expected: [UInt8] = bytes("Return-Path: <scanner@printer.local>\r\n")
            + bytes("Date: Mon, 2 Jun 2025 10:00:00 +0200\r\n")
            + bytes("From: \"scanner at printer.local\" <scanner@contoso.com>\r\n")
            + bytes("To: user1@contoso.com;user2@contoso.com\r\n")
            + subject
            + bytes("MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"=_NextPart_\"\r\nX-Mailer: RICOH\r\n")
            + bytes("Bcc: archive@contoso.com\r\n")
            + bytes("Message-ID: \(result.messageID!)\r\n\r\n")
            + body
        #expect(output == expected)
    }

    @Test("a head built from a scanner span on a prefix equals one parsed whole")
    func prefixAndSpan() throws {
        let message = bytes("To: a@x.y\r\nSubject: s\r\n\r\n" + String(repeating: "body ", count: 1000))
        var scanner = HeaderBoundaryScanner(limit: 1024)
        var outcome = HeaderBoundaryScanner.Outcome.needMoreData
        var offset = 0
        while outcome == .needMoreData, offset < message.count {
            outcome = scanner.scan(message[offset..<min(offset + 7, message.count)])
            offset += 7
        }
        guard case .complete(let span) = outcome else {
            Issue.record("no span: \(outcome)")
            return
        }
        let head = MessageHead(messagePrefix: message[..<offset], span: span)
        #expect(head.bytes == Array(message[..<span.bodyOffset]))
        #expect(head.fields.count == 2)
        #expect(head.fields.map(\.name) == ["To", "Subject"])
    }

    @Test("MessageHead.parse reports an incomplete prefix and a too-long header clearly")
    func parseErrors() throws {
        #expect(throws: MessageHeadError.incomplete(bytesGiven: 10)) {
            try MessageHead.parse(bytes("Subject: x"), isComplete: false)
        }
        let error = #expect(throws: MessageHeadError.self) {
            try MessageHead.parse(bytes("Subject: " + String(repeating: "x", count: 200) + "\r\n\r\n"), isComplete: true, limit: 64)
        }
        #expect(error?.description.hasPrefix("header block longer than 64 bytes") == true)
    }
}
