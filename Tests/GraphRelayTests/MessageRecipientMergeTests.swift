import Testing
@testable import GraphRelay

@Suite("Message recipient merge into Bcc")
struct MessageRecipientMergeTests {
    @Test("recipients already in To/Cc/Bcc change nothing, byte for byte")
    func unchanged() throws {
        let message = "From: a@x.y\r\nTo: \"Alice\" <ALICE@Example.com>\r\nCc: bob@example.com\r\nBcc: carol@example.com\r\n\r\nbody\r\n"
        let (output, result) = try rewritten(message, HeaderRewriteOptions(envelopeRecipients: [
            "alice@example.com", "<Bob@EXAMPLE.com>", "carol@example.com",
        ]))
        #expect(output == message)
        #expect(result.recipients.addedToBcc.isEmpty)
        #expect(result.recipients.headerOnlyRecipients.isEmpty)
    }

    @Test("an envelope-only recipient gets a new Bcc field at the end of the header")
    func newBcc() throws {
        let (output, result) = try rewritten(
            "Subject: x\r\nTo: a@x.y\r\n\r\nbody\r\n",
            HeaderRewriteOptions(envelopeRecipients: ["a@x.y", "<b@x.y>"]))
        #expect(output == "Subject: x\r\nTo: a@x.y\r\nBcc: b@x.y\r\n\r\nbody\r\n")
        #expect(result.recipients.addedToBcc == ["b@x.y"])
        #expect(result.recipients.extendedExistingBcc == false)
    }

    @Test("an existing Bcc is extended, its entries kept; empty and trailing-comma Bcc fields handled")
    func mergeExisting() throws {
        let options = HeaderRewriteOptions(envelopeRecipients: ["d@x.y"])
        #expect(try rewritten("Bcc: C <c@x.y>\r\nTo: a@x.y\r\n\r\n", options).message == "Bcc: C <c@x.y>, d@x.y\r\nTo: a@x.y\r\n\r\n")
        #expect(try rewritten("Bcc:\r\n\r\n", options).message == "Bcc: d@x.y\r\n\r\n")
        #expect(try rewritten("Bcc: c@x.y,\r\n\r\n", options).message == "Bcc: c@x.y, d@x.y\r\n\r\n")
        #expect(try rewritten("BCC: undisclosed:;\r\n\r\n", options).message == "BCC: undisclosed:;, d@x.y\r\n\r\n")
        let result = try rewritten("Bcc: c@x.y\r\n\r\n", options).result
        #expect(result.recipients.extendedExistingBcc)
    }

    @Test("only the first of several Bcc fields is extended; all count as present")
    func severalBcc() throws {
        let (output, _) = try rewritten("Bcc: a@x.y\r\nBcc: b@x.y\r\n\r\n",
                                        HeaderRewriteOptions(envelopeRecipients: ["a@x.y", "b@x.y", "c@x.y"]))
        #expect(output == "Bcc: a@x.y, c@x.y\r\nBcc: b@x.y\r\n\r\n")
    }

    @Test("Bcc-only message: undisclosed-recipients group in To, every recipient goes to Bcc")
    func bccOnly() throws {
        let (output, result) = try rewritten("To: undisclosed-recipients:;\r\nSubject: s\r\n\r\nb",
                                             HeaderRewriteOptions(envelopeRecipients: ["a@x.y", "b@x.y"]))
        #expect(output == "To: undisclosed-recipients:;\r\nSubject: s\r\nBcc: a@x.y, b@x.y\r\n\r\nb")
        #expect(result.recipients.addedToBcc == ["a@x.y", "b@x.y"])
    }

    @Test("recipients on folded continuation lines, in groups and in several To fields are found")
    func foldedAndGroups() throws {
        let message = "To: first@x.y,\r\n\tsecond@x.y\r\nTo: Team: third@x.y,\r\n fourth@x.y;\r\nCc: =?UTF-8?Q?Doe,_J?= <fifth@x.y>\r\n\r\n"
        let (output, result) = try rewritten(message, HeaderRewriteOptions(envelopeRecipients: [
            "second@x.y", "fourth@x.y", "FIFTH@x.y", "first@x.y", "third@x.y",
        ]))
        #expect(output == message)
        #expect(result.recipients.addedToBcc.isEmpty)
    }

    @Test("duplicate envelope recipients are added once; header-only recipients are reported")
    func duplicatesAndHeaderOnly() throws {
        let (output, result) = try rewritten("To: a@x.y, extra@x.y\r\n\r\n",
                                             HeaderRewriteOptions(envelopeRecipients: ["a@x.y", "b@x.y", "B@X.Y", "<b@x.y>"]))
        #expect(output == "To: a@x.y, extra@x.y\r\nBcc: b@x.y\r\n\r\n")
        #expect(result.recipients.headerOnlyRecipients == ["extra@x.y"])
    }

    @Test("bare-LF messages get bare-LF fields")
    func lfMessage() throws {
        #expect(try rewritten("To: a@x.y\n\nbody\n", HeaderRewriteOptions(envelopeRecipients: ["b@x.y"])).message
            == "To: a@x.y\nBcc: b@x.y\n\nbody\n")
    }

    @Test("many recipients are folded under 78 columns and parse back completely")
    func folding() throws {
        let recipients = (0..<40).map { "recipient-number-\($0)@subdomain.example.com" }
        let (output, _) = try rewritten("Subject: many\r\n\r\n", HeaderRewriteOptions(envelopeRecipients: recipients))
        let header = output.components(separatedBy: "\r\n\r\n")[0]
        let lines = header.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
        #expect(lines.dropFirst(2).allSatisfy { $0.hasPrefix(" ") })
        let (reparsed, _) = try parseHead(output)
        #expect(reparsed.headerRecipients.map(\.addrSpec) == recipients)
    }

    @Test("appending to a long existing Bcc folds too")
    func foldingExisting() throws {
        let existing = "Bcc: " + (0..<3).map { "existing-\($0)@example.com" }.joined(separator: ", ")
        let (output, _) = try rewritten(existing + "\r\n\r\n", HeaderRewriteOptions(envelopeRecipients: ["new-recipient@example.com"]))
        #expect(output == existing + ",\r\n new-recipient@example.com\r\n\r\n")
    }

    @Test("8-bit and odd bytes in other fields pass through unchanged")
    func eightBit() throws {
        let latin1Subject: [UInt8] = bytes("Subject: Gr") + [0xFC] + bytes("\u{DF}e\r\n")
        let utf8Subject = bytes("X-Name: Jörg 😀\r\n")
        let weird = bytes("X-Junk-Line-Without-Colon\r\nX-Tab:\tvalue \r\n")
        let original = latin1Subject + utf8Subject + weird + bytes("To: a@x.y\r\n\r\n") + [0xFF, 0x00, 0x0D]
        var (head, offset) = try MessageHead.parse(original, isComplete: true)
        head.mergeEnvelopeRecipients(["b@x.y"])
        let output = head.bytes + original[offset...]
        #expect(output == latin1Subject + utf8Subject + weird + bytes("To: a@x.y\r\nBcc: b@x.y\r\n\r\n") + [0xFF, 0x00, 0x0D])
    }

    @Test("SMTPUTF8 recipient compared case-insensitively")
    func utf8Recipient() throws {
        let (output, _) = try rewritten("To: Jörg <JÖRG@bücher.de>\r\n\r\n", HeaderRewriteOptions(envelopeRecipients: ["jörg@bücher.de", "ärger@bücher.de"]))
        #expect(output == "To: Jörg <JÖRG@bücher.de>\r\nBcc: ärger@bücher.de\r\n\r\n")
    }

    @Test("a message without header section gets fields plus the empty line before the body")
    func noHeaderSection() throws {
        #expect(try rewritten("Hello there\r\n", HeaderRewriteOptions(envelopeRecipients: ["b@x.y"])).message
            == "Bcc: b@x.y\r\n\r\nHello there\r\n")
        #expect(try rewritten("\r\nbody", HeaderRewriteOptions(envelopeRecipients: ["b@x.y"])).message
            == "Bcc: b@x.y\r\n\r\nbody")
        // Nothing to add: nothing changes.
        #expect(try rewritten("Hello there\r\n", HeaderRewriteOptions()).message == "Hello there\r\n")
    }

    @Test("a headers-only message without final line ending gets one before the new field")
    func headersOnlyUnterminated() throws {
        #expect(try rewritten("Subject: x", HeaderRewriteOptions(envelopeRecipients: ["b@x.y"])).message
            == "Subject: x\r\nBcc: b@x.y\r\n")
    }

    @Test("semicolon-separated lists (Outlook style, common from printers) are understood")
    func semicolons() throws {
        let (output, _) = try rewritten("To: a@x.y; b@x.y\r\n\r\n", HeaderRewriteOptions(envelopeRecipients: ["a@x.y", "b@x.y"]))
        #expect(output == "To: a@x.y; b@x.y\r\n\r\n")
    }
}
