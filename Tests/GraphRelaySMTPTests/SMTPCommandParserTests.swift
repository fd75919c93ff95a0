import Testing
@testable import GraphRelaySMTP

@Suite("SMTP command parser")
struct SMTPCommandParserTests {
    func parse(_ line: String) -> SMTPCommandParser.Outcome {
        SMTPCommandParser.parse(Array(line.utf8))
    }

    func status(_ line: String) -> String? {
        switch parse(line) {
        case .command: nil
        case .failure(let reply), .malformedChunk(let reply): "\(reply.code) \(reply.enhancedStatusCode.map(String.init(describing:)) ?? "")"
        }
    }

    func mailbox(_ local: String, _ domain: String) -> SMTPMailbox { SMTPMailbox(localPart: local, domain: domain) }

    @Test("verbs are case-insensitive; trailing spaces after argument-less commands are forgiven")
    func verbs() {
        #expect(parse("ehlo client.example") == .command(.ehlo("client.example")))
        #expect(parse("HeLo printer_01") == .command(.helo("printer_01")))
        #expect(parse("data") == .command(.data))
        #expect(parse("QUIT  ") == .command(.quit))
        #expect(parse("rset") == .command(.rset))
        #expect(parse("NOOP anything") == .command(.noop))
        #expect(parse("starttls") == .command(.startTLS))
        #expect(parse("vrfy postmaster") == .command(.vrfy("postmaster")))
        #expect(parse("help me") == .command(.help))
        #expect(parse("EXPN list") == .command(.expn))
    }

    @Test("unknown commands and syntax errors get their codes")
    func errors() {
        #expect(status("FOO bar") == "500 5.5.1")
        #expect(status("") == "500 5.5.1")
        #expect(status("EHLO") == "501 5.5.4")
        #expect(status("EHLO   ") == "501 5.5.4")
        #expect(status("DATA now") == "501 5.5.4")
        #expect(status("QUIT now") == "501 5.5.4")
        #expect(status("RSET x") == "501 5.5.4")
        #expect(status("VRFY") == "501 5.5.4")
        #expect(status("STARTTLS x") == "501 5.5.4")
        #expect(status("MAIL <a@b.example>") == "501 5.5.4")
        #expect(status("MAIL TO:<a@b.example>") == "501 5.5.4")
        #expect(status("RCPT FROM:<a@b.example>") == "501 5.5.4")
        #expect(status("AUTH") == "501 5.5.4")
        #expect(status("AUTH PLAIN a b") == "501 5.5.4")
    }

    @Test("reverse paths, strict and forgiving forms")
    func reversePaths() {
        let plain = SMTPReversePath.mailbox(mailbox("a", "b.example"))
        #expect(parse("MAIL FROM:<a@b.example>") == .command(.mail(plain, SMTPMailParameters())))
        #expect(parse("mail from:<a@b.example>") == .command(.mail(plain, SMTPMailParameters())))
        #expect(parse("MAIL FROM: <a@b.example>") == .command(.mail(plain, SMTPMailParameters())))
        #expect(parse("MAIL FROM:a@b.example") == .command(.mail(plain, SMTPMailParameters())))
        #expect(parse("MAIL FROM:<>") == .command(.mail(.null, SMTPMailParameters())))
        #expect(parse("MAIL FROM:<scanner>") == .command(.mail(.mailbox(mailbox("scanner", "")), SMTPMailParameters())))
        #expect(parse("MAIL FROM:<@relay1.example,@relay2.example:a@b.example>") == .command(.mail(plain, SMTPMailParameters())))
        #expect(parse("MAIL FROM:<\"john >doe\"@b.example>") == .command(.mail(.mailbox(mailbox("\"john >doe\"", "b.example")), SMTPMailParameters())))
        #expect(parse("MAIL FROM:<\"a\\\"b\"@b.example>") == .command(.mail(.mailbox(mailbox("\"a\\\"b\"", "b.example")), SMTPMailParameters())))
        #expect(parse("MAIL FROM:<a@[192.0.2.1]>") == .command(.mail(.mailbox(mailbox("a", "[192.0.2.1]")), SMTPMailParameters())))
        #expect(parse("MAIL FROM:<a@[IPv6:2001:db8::1]>") == .command(.mail(.mailbox(mailbox("a", "[IPv6:2001:db8::1]")), SMTPMailParameters())))
        #expect(parse("MAIL FROM:<first.last+tag@sub.b-c.example>") == .command(.mail(.mailbox(mailbox("first.last+tag", "sub.b-c.example")), SMTPMailParameters())))
    }

    @Test("bad sender addresses get 501 5.1.7")
    func badSenders() {
        for line in [
            "MAIL FROM:<a@b.example", "MAIL FROM:<@b.example>", "MAIL FROM:<a b@c.example>", "MAIL FROM:<a@b..example>",
            "MAIL FROM:<a@b.example.>", "MAIL FROM:<a@[300.1.1.1]>", "MAIL FROM:<a@b.example>x", "MAIL FROM:<\"unterminated@b.example>",
            "MAIL FROM:<a@b(c).example>", "MAIL FROM:", "MAIL FROM:<a@>", "MAIL FROM:<" + String(repeating: "a", count: 250) + "@b.example>",
            "MAIL FROM:<@relay.example a@b.example>",
        ] {
            #expect(status(line) == "501 5.1.7", "\(line)")
        }
        // Invalid UTF-8 in the local part.
        let invalid = Array("MAIL FROM:<".utf8) + [0xC3, 0x28] + Array("@b.example> SMTPUTF8".utf8)
        guard case .failure(let reply) = SMTPCommandParser.parse(invalid) else {
            Issue.record("invalid UTF-8 accepted")
            return
        }
        #expect(reply.code == 501 && reply.enhancedStatusCode == SMTPEnhancedStatusCode(5, 1, 7))
    }

    @Test("internationalised addresses need SMTPUTF8")
    func internationalised() {
        #expect(status("MAIL FROM:<用户@例子.广告>") == "553 5.6.7")
        #expect(parse("MAIL FROM:<用户@例子.广告> SMTPUTF8") == .command(.mail(.mailbox(mailbox("用户", "例子.广告")), SMTPMailParameters(smtpUTF8: true))))
    }

    @Test("MAIL parameters")
    func parameters() {
        let sender = SMTPReversePath.mailbox(mailbox("a", "b.example"))
        #expect(parse("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME") == .command(.mail(sender, SMTPMailParameters(size: 1000, body: .eightBitMIME))))
        #expect(parse("MAIL FROM:<a@b.example>  body=7bit   size=5") == .command(.mail(sender, SMTPMailParameters(size: 5, body: .sevenBit))))
        #expect(parse("MAIL FROM:<a@b.example> AUTH=<>") == .command(.mail(sender, SMTPMailParameters(auth: "<>"))))
        #expect(parse("MAIL FROM:<a@b.example> SIZE=99999999999999999999999") == .command(.mail(sender, SMTPMailParameters(size: Int.max))))
        #expect(status("MAIL FROM:<a@b.example> FOO=bar") == "555 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> RET=HDRS") == "555 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> BODY=BINARYMIME") == "555 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> BODY=9BIT") == "501 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> SIZE=abc") == "501 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> SIZE=") == "501 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> SIZE") == "501 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> SIZE=1 SIZE=2") == "501 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> SMTPUTF8=yes") == "501 5.5.4")
        #expect(status("MAIL FROM:<a@b.example> =x") == "501 5.5.4")
    }

    @Test("forward paths")
    func forwardPaths() {
        #expect(parse("RCPT TO:<user@example.com>") == .command(.rcpt(.mailbox(mailbox("user", "example.com")))))
        #expect(parse("rcpt to: user@example.com") == .command(.rcpt(.mailbox(mailbox("user", "example.com")))))
        #expect(parse("RCPT TO:<Postmaster>") == .command(.rcpt(.postmaster)))
        #expect(status("RCPT TO:<>") == "501 5.1.3")
        #expect(status("RCPT TO:<user>") == "501 5.1.3")
        #expect(status("RCPT TO:<user@exa mple.com>") == "501 5.1.3")
        #expect(status("RCPT TO:<user@example.com> NOTIFY=NEVER") == "555 5.5.4")
    }

    @Test("BDAT sizes; a malformed BDAT is flagged as such")
    func bdat() {
        #expect(parse("BDAT 100") == .command(.bdat(size: 100, last: false)))
        #expect(parse("bdat 0 last") == .command(.bdat(size: 0, last: true)))
        for line in ["BDAT", "BDAT x", "BDAT -1", "BDAT 10 FIRST", "BDAT 10 LAST x", "BDAT 1234567890123456789"] {
            guard case .malformedChunk(let reply) = parse(line) else {
                Issue.record("\(line) not flagged")
                continue
            }
            #expect(reply.code == 501 && reply.enhancedStatusCode == SMTPEnhancedStatusCode(5, 5, 4))
        }
    }

    @Test("AUTH mechanism is upper-cased, initial response kept")
    func auth() {
        #expect(parse("auth plain AGFsaWNlAHNlY3JldA==") == .command(.auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHNlY3JldA==")))
        #expect(parse("AUTH login") == .command(.auth(mechanism: "LOGIN", initialResponse: nil)))
    }
}
