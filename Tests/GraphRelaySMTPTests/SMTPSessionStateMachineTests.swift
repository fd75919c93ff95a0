import GraphRelayMIME
import GraphRelayTLS
import NIOCore
import Testing
@testable import GraphRelaySMTP

@Suite("SMTP session state machine")
struct SMTPSessionStateMachineTests {
    typealias Harness = SMTPSessionHarness

    static let tlsInfo = TLSConnectionInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", cipherBits: 256)
    static let message = "Subject: test\r\n\r\nHello\r\n"

    func greeted(_ configuration: SMTPSessionStateMachine.Configuration = Harness.configuration()) -> Harness {
        var harness = Harness(configuration)
        harness.connect()
        return harness
    }

    // MARK: Connection

    @Test("greeting after the connection policy accepts")
    func greeting() {
        var harness = greeted()
        #expect(harness.replies.map(\.wireFormat) == ["220 relay.test ESMTP graph-relay\r\n"])
        #expect(harness.takeStatuses() == ["220"])
    }

    @Test("a connection policy rejection is sent and the connection closed; a 2xx rejection becomes 451")
    func connectionRejected() {
        var harness = Harness()
        harness.acceptConnection = .reject(SMTPReply(554, "5.7.1", "Go away"))
        harness.connect()
        #expect(harness.takeStatuses() == ["554 5.7.1"])
        #expect(harness.closed)

        var odd = Harness()
        odd.acceptConnection = .reject(SMTPReply(250, "2.0.0", "fine?"))
        odd.connect()
        #expect(odd.takeStatuses() == ["451 4.3.0"])
    }

    @Test("over a connection limit: the limiter's 421 and close")
    func limiterRejection() {
        var harness = Harness()
        harness.connect(rejection: .tooManyConnections(hostname: "relay.test", from: "192.0.2.10"))
        #expect(harness.takeStatuses() == ["421 4.7.0"])
        #expect(harness.closed)
    }

    @Test("input before the greeting: 554 and close; a TLS ClientHello: silent close")
    func pregreet() {
        var harness = Harness()
        _ = harness.machine.start(rejection: nil)  // the connection check stays pending
        harness.send("EHLO eager\r\n")
        #expect(harness.takeStatuses() == ["554 5.5.1"])
        #expect(harness.closed)

        var tls = Harness()
        _ = tls.machine.start(rejection: nil)
        tls.send(bytes: [0x16, 0x03, 0x01, 0x00, 0x10])
        #expect(tls.closedSilently)
        #expect(tls.replies.isEmpty)
    }

    @Test("a TLS ClientHello on a plaintext session: silent close")
    func clientHelloAfterGreeting() {
        var harness = greeted()
        _ = harness.takeStatuses()
        harness.send(bytes: [0x16, 0x03, 0x01, 0x00, 0x10, 0x01])
        #expect(harness.closedSilently)
        #expect(harness.replies.isEmpty)
    }

    // MARK: EHLO

    func ehloLines(_ harness: inout Harness, _ name: String = "client.example") -> [String] {
        harness.replies = []
        harness.send("EHLO \(name)\r\n")
        defer { harness.replies = [] }
        return harness.replies.last?.lines ?? []
    }

    @Test("EHLO on a plaintext listener: no STARTTLS, no AUTH")
    func ehloPlain() {
        var harness = greeted()
        #expect(ehloLines(&harness) == [
            "relay.test", "PIPELINING", "SIZE 36700160", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "CHUNKING",
        ])
    }

    @Test("EHLO on STARTTLS listener: STARTTLS before TLS, AUTH only after")
    func ehloStartTLS() {
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .starttls), startTLSAvailable: true))
        let before = ehloLines(&harness)
        #expect(before.contains("STARTTLS"))
        #expect(!before.contains { $0.hasPrefix("AUTH") })
        harness.send("STARTTLS\r\n")
        #expect(harness.takeStatuses() == ["220 2.0.0"])
        harness.run(harness.machine.tlsHandshakeCompleted(Self.tlsInfo))
        let after = ehloLines(&harness)
        #expect(!after.contains("STARTTLS"))
        #expect(after.contains("AUTH PLAIN LOGIN"))
        #expect(after.contains("AUTH=PLAIN LOGIN"))
    }

    @Test("STARTTLS is not advertised without a context; AUTH over plaintext only when allowed")
    func ehloVariants() {
        var noContext = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .starttls), startTLSAvailable: false))
        #expect(!ehloLines(&noContext).contains("STARTTLS"))
        noContext.send("STARTTLS\r\n")
        #expect(noContext.takeStatuses() == ["454 4.7.0"])

        var plaintextAuth = greeted(Harness.configuration(listener: SMTPListenerConfiguration(allowPlaintextAuthentication: true)))
        #expect(ehloLines(&plaintextAuth).contains("AUTH PLAIN LOGIN"))

        var noAuthenticator = greeted(Harness.configuration(listener: SMTPListenerConfiguration(allowPlaintextAuthentication: true), authentication: false))
        #expect(!ehloLines(&noAuthenticator).contains { $0.hasPrefix("AUTH") })
    }

    // MARK: Transactions

    @Test("a full transaction delivers the envelope and content with the Received header")
    func fullTransaction() {
        var harness = greeted()
        harness.send("EHLO client.example\r\n")
        harness.send("MAIL FROM:<sender@example.com> SIZE=100\r\n")
        harness.send("RCPT TO:<rcpt@example.org>\r\n")
        harness.send("DATA\r\n")
        harness.send(Self.message + ".\r\n")
        #expect(harness.takeStatuses() == ["220", "250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"])
        #expect(harness.deliveries.count == 1)
        let delivery = harness.deliveries[0]
        #expect(delivery.envelope.id == "FIXEDID")
        #expect(delivery.envelope.sender.address == "sender@example.com")
        #expect(delivery.envelope.parameters.size == 100)
        #expect(delivery.envelope.recipients == [.mailbox(SMTPMailbox(localPart: "rcpt", domain: "example.org"))])
        #expect(delivery.content == """
            Received: from client.example ([192.0.2.10])\r
            \tby relay.test (graph-relay) with ESMTP id FIXEDID\r
            \tfor <rcpt@example.org>; Tue, 25 Nov 2025 10:00:00 +0000\r
            Subject: test\r
            \r
            Hello\r

            """)
        // A second transaction in the same session.
        harness.send("MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n.\r\nQUIT\r\n")
        #expect(harness.takeStatuses() == ["250 2.1.0", "250 2.1.5", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"])
        #expect(harness.deliveries.count == 2)
        #expect(!harness.deliveries[1].content.contains("\tfor <"), "no 'for' with several recipients")
        #expect(harness.closed)
    }

    @Test("pipelined commands are answered in order")
    func pipelining() {
        var harness = greeted()
        _ = harness.takeStatuses()
        harness.recipientDecision = { $0.address.hasPrefix("bad") ? .reject(SMTPReply(550, "5.1.1", "no such user")) : .accept }
        harness.send("EHLO c\r\nMAIL FROM:<s@example.com>\r\nRCPT TO:<bad@example.org>\r\nRCPT TO:<good@example.org>\r\nDATA\r\n")
        #expect(harness.takeStatuses() == ["250", "250 2.1.0", "550 5.1.1", "250 2.1.5", "354"])
        harness.send("x\r\n.\r\nRSET\r\nNOOP\r\n")
        #expect(harness.takeStatuses() == ["250 2.0.0", "250 2.0.0", "250 2.0.0"])
        #expect(harness.deliveries.map(\.envelope.recipients.count) == [1])
    }

    @Test("commands out of order get 503 5.5.1")
    func sequence() {
        var harness = greeted()
        _ = harness.takeStatuses()
        harness.send("MAIL FROM:<a@example.com>\r\n")
        harness.send("EHLO c\r\nRCPT TO:<a@example.org>\r\nDATA\r\nBDAT 0 LAST\r\n")
        harness.send("MAIL FROM:<a@example.com>\r\nMAIL FROM:<a@example.com>\r\nDATA\r\n")
        #expect(harness.takeStatuses() == ["503 5.5.1", "250", "503 5.5.1", "503 5.5.1", "503 5.5.1", "250 2.1.0", "503 5.5.1", "503 5.5.1"])
        #expect(harness.senderChecks.count == 1, "the nested MAIL never reached the policy")
    }

    @Test("all recipients rejected: DATA gets 554 5.5.1")
    func noValidRecipients() {
        var harness = greeted()
        harness.recipientDecision = { _ in .reject(.relayAccessDenied("x")) }
        harness.send("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n")
        #expect(harness.takeStatuses().suffix(2) == ["554 5.7.1", "554 5.5.1"])
    }

    @Test("bad input gets its exact reply code")
    func badInput() {
        var harness = greeted(Harness.configuration(limits: { var l = SMTPLimits(); l.maximumErrors = 100; return l }()))
        _ = harness.takeStatuses()
        let cases: [(String, String)] = [
            ("FOO\r\n", "500 5.5.1"),
            (String(repeating: "N", count: 600) + "\r\n", "500 5.5.2"),
            ("HELO a\n", "501 5.5.2"),
            ("HELO a\rb\r\n", "501 5.5.2"),
            ("HELO \u{0}\r\n", "501 5.5.2"),
            ("EHLO\r\n", "501 5.5.4"),
            ("EXPN x\r\n", "502 5.5.1"),
            ("STARTTLS\r\n", "502 5.5.1"),
            ("VRFY someone\r\n", "252 2.0.0"),
            ("HELP\r\n", "214 2.0.0"),
            ("EHLO c\r\n", "250"),
            ("MAIL FROM:<a@b.example> SIZE=36700161\r\n", "552 5.3.4"),
            ("MAIL FROM:<a@b.example> X-FOO=1\r\n", "555 5.5.4"),
            ("MAIL FROM:<a b>\r\n", "501 5.1.7"),
            ("MAIL FROM:<a@b.example>\r\n", "250 2.1.0"),
            ("RCPT TO:<nobody>\r\n", "501 5.1.3"),
            ("RCPT TO:<a@b.example> NOTIFY=NEVER\r\n", "555 5.5.4"),
            ("RCPT TO:<用户@例子.广告>\r\n", "553 5.6.7"),
            ("RSET\r\n", "250 2.0.0"),
            ("AUTH PLAIN\r\n", "538 5.7.11"),
        ]
        for (input, expected) in cases {
            harness.send(input)
            #expect(harness.takeStatuses() == [expected], "\(input.prefix(40).debugDescription)")
        }
        #expect(!harness.closed)
    }

    @Test("bare LF ends commands on normalize listeners")
    func normalizeCommands() {
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(lineEndings: .normalize)))
        _ = harness.takeStatuses()
        harness.send("HELO a\nMAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\nDATA\nline1\nline2\n.\n")
        #expect(harness.takeStatuses() == ["250", "250 2.1.0", "250 2.1.5", "354"], "LF.LF is no end on normalize")
        harness.send("\r\n.\r\n")
        #expect(harness.takeStatuses() == ["250 2.0.0"])
        #expect(harness.deliveries.first?.content.hasSuffix("\r\nline1\r\nline2\r\n.\r\n\r\n") == true)
    }

    @Test("an AUTH line may exceed the command line limit")
    func longAuthLine() {
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(allowPlaintextAuthentication: true)))
        harness.send("EHLO c\r\n")
        _ = harness.takeStatuses()
        harness.send("AUTH PLAIN " + String(repeating: "QUFB", count: 200) + "\r\n")  // 811 octets
        #expect(harness.takeStatuses() == ["501 5.5.2"], "decoded (malformed), not refused as too long")
        harness.send("AUTH PLAIN " + String(repeating: "QUFB", count: 4000) + "\r\n")
        #expect(harness.takeStatuses() == ["500 5.5.2"])
    }

    @Test("the recipient limit: 452 4.5.3")
    func recipientLimit() {
        var limits = SMTPLimits()
        limits.maximumRecipients = 2
        var harness = greeted(Harness.configuration(limits: limits))
        harness.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
        _ = harness.takeStatuses()
        harness.send("RCPT TO:<1@x.example>\r\nRCPT TO:<2@x.example>\r\nRCPT TO:<3@x.example>\r\nDATA\r\n.\r\n")
        #expect(harness.takeStatuses() == ["250 2.1.5", "250 2.1.5", "452 4.5.3", "354", "250 2.0.0"])
        #expect(harness.recipientChecks.count == 2)
        #expect(harness.deliveries.first?.envelope.recipients.count == 2)
    }

    @Test("recipients over the limit do not count as errors (up to the overshoot limit)")
    func recipientOvershoot() {
        var limits = SMTPLimits()
        limits.maximumRecipients = 2
        limits.maximumErrors = 3
        var harness = greeted(Harness.configuration(limits: limits))
        harness.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
        _ = harness.takeStatuses()
        harness.send((1...30).map { "RCPT TO:<r\($0)@x.example>\r\n" }.joined() + "DATA\r\n.\r\n")
        let statuses = harness.takeStatuses()
        #expect(statuses.filter { $0 == "452 4.5.3" }.count == 28)
        #expect(statuses.suffix(2) == ["354", "250 2.0.0"])
        #expect(!harness.closed)
        #expect(harness.machine.errorCount == 0)
    }

    @Test("the junk command count starts again after a delivered message")
    func junkResetByDelivery() {
        var limits = SMTPLimits()
        limits.maximumJunkCommands = 3  // the EHLO and two RSETs
        limits.maximumErrors = 2
        var harness = greeted(Harness.configuration(limits: limits))
        _ = harness.takeStatuses()
        harness.send("EHLO c\r\n")
        for _ in 0..<5 {
            harness.send("RSET\r\nRSET\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\n")
        }
        #expect(!harness.closed)
        #expect(harness.deliveries.count == 5)
        #expect(harness.machine.errorCount == 0)
    }

    func transaction(_ harness: inout Harness) {
        harness.send("EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        _ = harness.takeStatuses()
    }

    @Test("a message over the size limit is read to its end, then 552 5.3.4")
    func oversize() {
        var limits = SMTPLimits()
        limits.maximumMessageSize = 100
        var harness = greeted(Harness.configuration(limits: limits))
        transaction(&harness)
        harness.send(String(repeating: "0123456789\r\n", count: 5))
        #expect(harness.sinksDiscarded == 0)
        harness.send(String(repeating: "0123456789\r\n", count: 5))
        #expect(harness.sinksDiscarded == 1, "storing stops at the limit")
        #expect(harness.replies.isEmpty, "no reply before the end")
        harness.send("MAIL FROM:<not@a.command>\r\n.\r\nNOOP\r\n")
        #expect(harness.takeStatuses() == ["552 5.3.4", "250 2.0.0"])
        #expect(harness.deliveries.isEmpty)
        #expect(harness.senderChecks.count == 1)
    }

    @Test("strict: bare LF or CR in content is refused after the end with 550 5.5.2")
    func strictBareLineEnding() {
        for body in ["a\nb\r\n", "a\rb\r\n"] {
            var harness = greeted()
            transaction(&harness)
            harness.send(body + ".\r\nNOOP\r\n")
            #expect(harness.takeStatuses() == ["550 5.5.2", "250 2.0.0"])
            #expect(harness.deliveries.isEmpty)
            #expect(harness.sinksDiscarded == 1)
        }
    }

    @Test("a line over the text line limit: 554 5.6.0")
    func longLine() {
        var limits = SMTPLimits()
        limits.maximumTextLineLength = 10
        var harness = greeted(Harness.configuration(limits: limits))
        transaction(&harness)
        harness.send("12345678901\r\n.\r\n")
        #expect(harness.takeStatuses() == ["554 5.6.0"])
    }

    @Test("smuggling variants produce one message and never run the smuggled commands", arguments: SMTPInboundDecoderTests.smugglingVariants, [SMTPLineEndings.strict, .normalize])
    func smuggling(variant: SmugglingVariant, lineEndings: SMTPLineEndings) {
        let variant = variant.text
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(lineEndings: lineEndings)))
        transaction(&harness)
        harness.send("Subject: x\r\n\r\nbody" + variant + "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nforged\r\n.\r\n")
        let statuses = harness.takeStatuses()
        #expect(statuses.count == 1, "one reply for one message: \(statuses)")
        #expect(harness.senderChecks.map(\.address) == ["a@b.example"], "the smuggled MAIL never ran")
        #expect(harness.recipientChecks.map(\.address) == ["c@d.example"])
        #expect(harness.deliveries.count <= 1)
        if let delivered = harness.deliveries.first {
            #expect(delivered.content.contains("MAIL FROM:<evil@attacker.example>"), "it stayed content")
        }
    }

    // MARK: Error limits

    @Test("the error limit: the Nth error is followed by 421 4.7.0 and close")
    func errorLimit() {
        var limits = SMTPLimits()
        limits.maximumErrors = 3
        var harness = greeted(Harness.configuration(limits: limits))
        _ = harness.takeStatuses()
        harness.send("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n")
        #expect(harness.takeStatuses() == ["500 5.5.1", "500 5.5.1", "500 5.5.1", "421 4.7.0"])
        #expect(harness.closed)
    }

    @Test("junk commands beyond the limit count as errors")
    func junkLimit() {
        var limits = SMTPLimits()
        limits.maximumJunkCommands = 2
        limits.maximumErrors = 2
        var harness = greeted(Harness.configuration(limits: limits))
        _ = harness.takeStatuses()
        harness.send("NOOP\r\nRSET\r\nVRFY x\r\n")
        #expect(!harness.closed)
        harness.send("HELP\r\n")
        #expect(harness.takeStatuses() == ["250 2.0.0", "250 2.0.0", "252 2.0.0", "214 2.0.0", "421 4.7.0"])
        #expect(harness.closed)
    }

    // MARK: AUTH

    func authHarness() -> Harness {
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(allowPlaintextAuthentication: true)))
        harness.send("EHLO c\r\n")
        _ = harness.takeStatuses()
        return harness
    }

    @Test("AUTH PLAIN with and without initial response")
    func authPlain() {
        var harness = authHarness()
        harness.send("AUTH PLAIN \(Base64.encode(Array("\u{0}alice\u{0}secret".utf8)))\r\n")
        #expect(harness.takeStatuses() == ["235 2.7.0"])
        #expect(harness.machine.session.authenticatedUser == "alice")

        var second = authHarness()
        second.send("auth plain\r\n")
        #expect(second.replies.last?.wireFormat == "334 \r\n")
        second.send(Base64.encode(Array("alice\u{0}alice\u{0}secret".utf8)) + "\r\n")
        #expect(second.takeStatuses() == ["334", "235 2.7.0"])
    }

    @Test("AUTH LOGIN with the standard prompts and with an initial user name")
    func authLogin() {
        var harness = authHarness()
        harness.send("AUTH LOGIN\r\n")
        #expect(harness.replies.last?.wireFormat == "334 VXNlcm5hbWU6\r\n")
        harness.send("YWxpY2U=\r\n")
        #expect(harness.replies.last?.wireFormat == "334 UGFzc3dvcmQ6\r\n")
        harness.send("c2VjcmV0\r\n")
        #expect(harness.takeStatuses() == ["334", "334", "235 2.7.0"])

        var inline = authHarness()
        inline.send("AUTH login YWxpY2U=\r\n")
        inline.send("d3Jvbmc=\r\n")
        #expect(inline.takeStatuses() == ["334", "535 5.7.8"])
        #expect(inline.credentialChecks.map(\.0) == ["alice"])
    }

    @Test("AUTH not checked now: 454 4.7.0, the session stays unauthenticated and may try again")
    func authTemporarilyUnavailable() {
        var harness = authHarness()
        harness.send("AUTH PLAIN \(Base64.encode(Array("\u{0}busy\u{0}secret".utf8)))\r\n")
        #expect(harness.takeStatuses() == ["454 4.7.0"])
        // Not authenticated: a second AUTH is allowed (it would be 503 after a success).
        harness.send("AUTH PLAIN \(Base64.encode(Array("\u{0}alice\u{0}secret".utf8)))\r\n")
        #expect(harness.takeStatuses() == ["235 2.7.0"])
    }

    @Test("AUTH failures and refusals")
    func authFailures() {
        var harness = authHarness()
        harness.send("AUTH LOGIN\r\n*\r\n")
        harness.send("AUTH PLAIN\r\n!!notbase64\r\n")
        harness.send("AUTH PLAIN \(Base64.encode(Array("nonul".utf8)))\r\n")
        harness.send("AUTH PLAIN \(Base64.encode(Array("bob\u{0}alice\u{0}secret".utf8)))\r\n")
        harness.send("AUTH CRAM-MD5\r\n")
        harness.send("AUTH PLAIN =\r\n")
        #expect(harness.takeStatuses() == ["334", "501 5.7.0", "334", "501 5.5.2", "501 5.5.2", "535 5.7.8", "504 5.5.4", "501 5.5.2"])
        harness.send("MAIL FROM:<a@b.example>\r\nAUTH PLAIN\r\nRSET\r\n")
        #expect(harness.takeStatuses() == ["250 2.1.0", "503 5.5.1", "250 2.0.0"])
        harness.send("AUTH PLAIN \(Base64.encode(Array("\u{0}alice\u{0}secret".utf8)))\r\nAUTH PLAIN\r\n")
        #expect(harness.takeStatuses() == ["235 2.7.0", "503 5.5.1"])
    }

    @Test("AUTH before EHLO, without authenticator, and over plaintext")
    func authRefusals() {
        var noEHLO = greeted(Harness.configuration(listener: SMTPListenerConfiguration(allowPlaintextAuthentication: true)))
        _ = noEHLO.takeStatuses()
        noEHLO.send("HELO c\r\nAUTH PLAIN\r\n")
        #expect(noEHLO.takeStatuses() == ["250", "503 5.5.1"])

        var disabled = greeted(Harness.configuration(authentication: false))
        _ = disabled.takeStatuses()
        disabled.send("EHLO c\r\nAUTH PLAIN\r\n")
        #expect(disabled.takeStatuses() == ["250", "503 5.5.1"])

        var plaintext = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .starttls), startTLSAvailable: true))
        _ = plaintext.takeStatuses()
        plaintext.send("EHLO c\r\nAUTH LOGIN\r\n")
        #expect(plaintext.takeStatuses() == ["250", "538 5.7.11"])
    }

    // MARK: STARTTLS

    @Test("STARTTLS discards pipelined plaintext and resets the session")
    func startTLSDiscardsPipelined() {
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .starttls), startTLSAvailable: true))
        harness.send("EHLO c\r\n")
        _ = harness.takeStatuses()
        harness.send("STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<v@example.com>\r\n")
        #expect(harness.takeStatuses() == ["220 2.0.0"])
        #expect(harness.startTLSDiscarded == [60])
        #expect(harness.waiting)
        #expect(harness.senderChecks.isEmpty)
        harness.run(harness.machine.tlsHandshakeCompleted(Self.tlsInfo))
        harness.send("MAIL FROM:<a@b.example>\r\n")
        #expect(harness.takeStatuses() == ["503 5.5.1"], "EHLO is needed again after TLS")
        harness.send("EHLO c\r\nSTARTTLS\r\n")
        #expect(harness.takeStatuses() == ["250", "503 5.5.1"])
        #expect(harness.senderChecks.isEmpty)
    }

    @Test("plaintext arriving after the STARTTLS 220 was queued, before TLS starts, is dropped (the 220 waited for the client)")
    func startTLSDropsLatePlaintext() {
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .starttls), startTLSAvailable: true))
        harness.send("EHLO c\r\n")
        _ = harness.takeStatuses()
        // The handler writes the 220 and stops there: its output is full.
        guard case .reply(let ready) = harness.machine.bytesReceived(ByteBuffer(string: "STARTTLS\r\n")) else {
            Issue.record("STARTTLS not answered first")
            return
        }
        #expect(Harness.status(ready) == "220 2.0.0")
        // The same read loop delivers more plaintext before the TLS handler is in place.
        let injected = "EHLO evil\r\nMAIL FROM:<evil@attacker.example>\r\n"
        harness.send(injected)
        #expect(harness.startTLSDiscarded == [0])
        #expect(harness.machine.plaintextDroppedDuringHandshake == injected.utf8.count)
        harness.run(harness.machine.tlsHandshakeCompleted(Self.tlsInfo))
        #expect(harness.takeStatuses().isEmpty, "nothing sent in plaintext runs inside TLS")
        #expect(harness.senderChecks.isEmpty)
        harness.send("EHLO c\r\n")
        #expect(harness.takeStatuses() == ["250"])
    }

    @Test("STARTTLS during a transaction, on implicit TLS, and with requireTLS")
    func startTLSRefusals() {
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .starttls), startTLSAvailable: true))
        _ = harness.takeStatuses()
        harness.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nSTARTTLS\r\n")
        #expect(harness.takeStatuses() == ["250", "250 2.1.0", "503 5.5.1"])

        var implicit = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .implicit)))
        implicit.run(implicit.machine.tlsHandshakeCompleted(Self.tlsInfo))
        _ = implicit.takeStatuses()
        implicit.send("EHLO c\r\nSTARTTLS\r\n")
        #expect(implicit.takeStatuses() == ["250", "503 5.5.1"])

        var required = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .starttls, requireTLS: true), startTLSAvailable: true))
        _ = required.takeStatuses()
        required.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
        #expect(required.takeStatuses() == ["250", "530 5.7.0"])
    }

    @Test("the Received header names TLS and authentication")
    func receivedWithTLSAndAuth() {
        var harness = greeted(Harness.configuration(listener: SMTPListenerConfiguration(tls: .implicit)))
        harness.run(harness.machine.tlsHandshakeCompleted(Self.tlsInfo))
        harness.send("EHLO bad(name)\r\nAUTH PLAIN \(Base64.encode(Array("\u{0}alice\u{0}secret".utf8)))\r\n")
        harness.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\n")
        let content = harness.deliveries.first?.content ?? ""
        #expect(content.hasPrefix("""
            Received: from bad_name_ ([192.0.2.10])\r
            \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256 bits))\r
            \tby relay.test (graph-relay) with ESMTPSA id FIXEDID\r

            """))
        #expect(harness.deliveries.first?.session.authenticatedUser == "alice")
    }

    // MARK: BDAT

    @Test("BDAT: chunks are stored in order; LAST delivers; each chunk is answered")
    func chunking() {
        var harness = greeted()
        harness.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
        _ = harness.takeStatuses()
        harness.send("BDAT 8\r\nSubject:BDAT 8 LAST\r\n x\r\n\r\nhi")
        #expect(harness.takeStatuses() == ["250 2.0.0", "250 2.0.0"])
        #expect(harness.replies.isEmpty)
        #expect(harness.deliveries.count == 1)
        #expect(harness.deliveries.first?.content.hasSuffix("\r\nSubject: x\r\n\r\nhi") == true)
        harness.send("DATA\r\n")
        #expect(harness.takeStatuses() == ["503 5.5.1"])
    }

    @Test("BDAT without a transaction: the chunk is read and dropped, then 503")
    func chunkWithoutTransaction() {
        var harness = greeted()
        harness.send("EHLO c\r\n")
        _ = harness.takeStatuses()
        harness.send("BDAT 28\r\nMAIL FROM:<evil@attacker.ex>NOOP\r\n")
        #expect(harness.takeStatuses() == ["503 5.5.1", "250 2.0.0"])
        #expect(harness.senderChecks.isEmpty)
    }

    @Test("a malformed BDAT: 501 5.5.4 and close")
    func malformedChunk() {
        var harness = greeted()
        harness.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
        _ = harness.takeStatuses()
        harness.send("BDAT ten\r\nMAIL FROM:<x@y.example>\r\n")
        #expect(harness.takeStatuses() == ["501 5.5.4"])
        #expect(harness.closed)
        #expect(harness.senderChecks.count == 1)
    }

    @Test("BDAT over the size limit: 552 5.3.4 after the chunk, the transaction is gone")
    func chunkTooBig() {
        var limits = SMTPLimits()
        limits.maximumMessageSize = 10
        var harness = greeted(Harness.configuration(limits: limits))
        harness.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
        _ = harness.takeStatuses()
        harness.send("BDAT 6\r\n123456BDAT 6 LAST\r\n123456BDAT 1 LAST\r\nx")
        #expect(harness.takeStatuses() == ["250 2.0.0", "552 5.3.4", "503 5.5.1"])
        #expect(harness.deliveries.isEmpty)
        #expect(harness.sinksDiscarded == 1)
    }

    // MARK: Storage, delivery, policy answers

    @Test("storage failures: 451 4.3.0")
    func storageFailures() {
        var harness = greeted()
        harness.sinkOpenFails = true
        transaction(&harness)
        #expect(harness.machine.isClosed == false)
        harness.replies = []
        harness.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        #expect(harness.takeStatuses().last == "451 4.3.0")

        var appending = greeted()
        appending.appendFailsAfter = 10
        transaction(&appending)
        appending.send("some content\r\nmore\r\n.\r\nNOOP\r\n")
        #expect(appending.takeStatuses() == ["451 4.3.0", "250 2.0.0"])
        #expect(appending.deliveries.isEmpty)
    }

    @Test("delivery replies reach the client; invalid ones become 451 4.3.0; 421 closes")
    func deliveryReplies() {
        for (reply, expected, closes) in [
            (SMTPReply(554, "5.6.0", "rejected"), "554 5.6.0", false),
            (SMTPReply(354, nil, "what"), "451 4.3.0", false),
            (SMTPReply(451, "5.4.0", "mismatched class"), "451 4.4.0", false),
            (SMTPReply(421, "4.3.2", "bye"), "421 4.3.2", true),
        ] {
            var harness = greeted()
            harness.deliveryReply = reply
            transaction(&harness)
            harness.send(".\r\n")
            #expect(harness.takeStatuses() == [expected])
            #expect(harness.closed == closes)
        }
    }

    // MARK: Timeouts and shutdown

    @Test("timeout: 421 4.4.2 and close, discarding an open message")
    func timeout() {
        var harness = greeted()
        transaction(&harness)
        harness.send("partial content")
        harness.run(harness.machine.timedOut())
        #expect(harness.takeStatuses() == ["421 4.4.2"])
        #expect(harness.closed)
        #expect(harness.sinksDiscarded == 1)
    }

    @Test("shutdown: 421 4.3.2 at once, or after the delivery answer")
    func shutdown() {
        var idle = greeted()
        _ = idle.takeStatuses()
        idle.run(idle.machine.shutdownRequested())
        #expect(idle.takeStatuses() == ["421 4.3.2"])
        #expect(idle.closed)

        // Hold the delivery: drive by hand.
        var harness = greeted()
        transaction(&harness)
        var buffer = ByteBuffer()
        buffer.writeString("x\r\n.\r\n")
        var action = harness.machine.bytesReceived(buffer)
        while case .appendToSink = action { action = harness.machine.sinkAppended(success: true) }
        guard case .deliver = action else {
            Issue.record("expected deliver, got \(action)")
            return
        }
        #expect(harness.machine.nextAction().isWait)
        #expect(harness.machine.shutdownRequested().isWait, "waits for the delivery answer")
        harness.run(harness.machine.delivered(.queued(as: "Q")))
        #expect(harness.takeStatuses() == ["250 2.0.0", "421 4.3.2"])
        #expect(harness.closed)
    }

    @Test("input phases for the deadlines")
    func inputPhases() {
        var harness = Harness()
        #expect(harness.machine.inputPhase == .suspended)
        harness.connect()
        #expect(harness.machine.inputPhase == .command)
        transaction(&harness)
        #expect(harness.machine.inputPhase == .message)
        harness.send("QUIT\r\n")
        #expect(harness.machine.inputPhase == .message)
        harness.send(".\r\nQUIT\r\n")
        #expect(harness.machine.inputPhase == .closed)
    }
}

extension SMTPSessionStateMachine.Action {
    var isWait: Bool {
        if case .wait = self { return true }
        return false
    }
}
