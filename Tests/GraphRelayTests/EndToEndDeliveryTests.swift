import Foundation
import GraphEmulator
import GraphRelayTestSupport
import Testing

/// Real SMTP clients → graph-relay → Graph emulator over HTTPS: what arrives at
/// Graph is the submitted message byte for byte, apart from the relay's `Received:` field in front
/// and the envelope recipients merged into `Bcc:`.
@Suite("End to end: delivery through graph-relay to Graph over HTTPS", .timeLimit(.minutes(1)))
struct EndToEndDeliveryTests {
    static let sender = "alice@\(EndToEnd.domain)"

    /// A message with To and a dot-leading line; `carol@example.org` is an envelope-only recipient.
    static func message(_ tag: String) -> EndToEndMessage {
        let text = "From: Alice Example <\(sender)>\r\n"
            + "To: \"Bob, the recipient\" <bob@example.net>\r\n"
            + "Subject: e2e \(tag)\r\n"
            + "Message-ID: <\(tag)@client.e2e.test>\r\n"
            + "Date: Tue, 25 Nov 2025 10:00:00 +0000\r\n"
            + "MIME-Version: 1.0\r\n"
            + "Content-Type: text/plain; charset=us-ascii\r\n"
            + "\r\n"
            + "Hello from \(tag).\r\n"
            + ".a line that starts with a dot\r\n"
            + "..and one with two\r\n"
            + "\r\n"
            + "-- \r\n"
            + "trailing spaces stay   \r\n"
        return EndToEndMessage(from: sender, to: ["bob@example.net", "carol@example.org"], text: text)
    }

    /// Checks that `received` is `submitted` plus the relay's `Received:` field and `extraFields`
    /// at the end of the header, byte for byte.
    static func expectDelivered(_ received: [UInt8], submitted: [UInt8], extraFields: String,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        guard let (trace, rest) = EndToEndMIME.splitReceived(received) else {
            Issue.record("no Received: field first: \(EndToEndBytes(received))", sourceLocation: sourceLocation)
            return
        }
        #expect(trace.contains("by \(EndToEnd.hostname) (graph-relay) with ESMTPS"), "\(trace)", sourceLocation: sourceLocation)
        let expected = EndToEndMIME.appendingHeaderFields(submitted, extraFields)
        #expect(EndToEndBytes(rest) == EndToEndBytes(expected), sourceLocation: sourceLocation)
    }

    @Test("smtplib, swaks and curl — STARTTLS and implicit TLS, AUTH and trusted network — deliver byte for byte, envelope-only recipient in Bcc")
    func realClients() async throws {
        try await EndToEndRelay.run { harness in
            let starttls = harness.starttlsPort, implicit = harness.implicitPort
            let runs: [(tag: String, send: @Sendable (EndToEndMessage) async throws -> String)] = [
                ("smtplib-starttls-auth", { try await EndToEndClients.smtplib(.starttls, port: starttls, messages: [$0])[0].status }),
                ("smtplib-smtps-trusted", { try await EndToEndClients.smtplib(.smtps, port: implicit, authenticate: false, messages: [$0])[0].status }),
                ("swaks-starttls-auth", { message in
                    let result = try await EndToEndClients.swaks(.starttls, port: starttls, message: message)
                    return result.status == 0 && result.stdout.contains(" 250 2.0.0 Ok: delivered as") ? "250 2.0.0" : "swaks \(result.status): \(result.stdout)"
                }),
                ("swaks-smtps-trusted", { message in
                    let result = try await EndToEndClients.swaks(.smtps, port: implicit, authenticate: false, message: message)
                    return result.status == 0 && result.stdout.contains(" 250 2.0.0 Ok: delivered as") ? "250 2.0.0" : "swaks \(result.status): \(result.stdout)"
                }),
                ("curl-starttls-auth", { message in
                    let result = try await EndToEndClients.curl(.starttls, port: starttls, message: message)
                    return result.status == 0 ? "250 2.0.0" : "curl \(result.status): \(result.stderr)"
                }),
                ("curl-smtps-trusted", { message in
                    let result = try await EndToEndClients.curl(.smtps, port: implicit, authenticate: false, message: message)
                    return result.status == 0 ? "250 2.0.0" : "curl \(result.status): \(result.stderr)"
                }),
            ]
            for run in runs {
                let status = try await run.send(Self.message(run.tag))
                #expect(status == "250 2.0.0", "\(run.tag): \(status)")
            }

            let accepted = harness.emulator.acceptedMessages
            #expect(accepted.count == runs.count)
            for run in runs {
                guard let message = accepted.first(where: { $0.mimeText.contains("Subject: e2e \(run.tag)\r\n") }) else {
                    Issue.record("\(run.tag): not at Graph")
                    continue
                }
                #expect(message.mailbox == Self.sender)
                #expect(message.clientID == EndToEnd.clientID)
                #expect(message.to == ["bob@example.net"])
                #expect(message.bcc == ["carol@example.org"])
                Self.expectDelivered(message.mime, submitted: Self.message(run.tag).data, extraFields: "Bcc: carol@example.org\r\n")
                let authenticated = run.tag.hasSuffix("-auth")
                #expect(message.mimeText.contains(authenticated ? "with ESMTPSA id" : "with ESMTPS id"), "\(run.tag)")
            }
            // The password and the client secret never reach the logs.
            let logs = harness.logs.text
            #expect(!logs.contains(EndToEnd.password))
            #expect(!logs.contains(EndToEnd.clientSecret))
            #expect(logs.contains("delivered to Microsoft Graph"))
        }
    }

    @Test("Bcc: a Bcc-only message keeps its Bcc and gains the envelope-only recipient; a header without recipients gets a new Bcc; known recipients add nothing")
    func bccHandling() async throws {
        try await EndToEndRelay.run { harness in
            let bccOnly = "From: \(Self.sender)\r\nBcc: Hidden Person <hidden@example.net>\r\nSubject: bcc only\r\nMessage-ID: <bcc-only@e2e>\r\n\r\nbody\r\n"
            let noHeaderRecipients = "From: \(Self.sender)\r\nSubject: envelope only\r\nMessage-ID: <env-only@e2e>\r\n\r\nbody\r\n"
            let allKnown = "From: \(Self.sender)\r\nTo: \"Bob\" <BOB@Example.NET>,\r\n (folded) =?UTF-8?Q?D=C3=A9sir=C3=A9e?= <desiree@example.org>\r\n"
                + "Cc: team: carol@example.org, \"Dan\" <dan@example.org>;\r\nSubject: all known\r\nMessage-ID: <all-known@e2e>\r\n\r\nbody\r\n"
            let messages = [
                EndToEndMessage(from: Self.sender, to: ["hidden@example.net", "extra@example.org"], text: bccOnly),
                EndToEndMessage(from: Self.sender, to: ["one@example.net", "two@example.org", "ONE@example.net"], text: noHeaderRecipients),
                EndToEndMessage(from: Self.sender, to: ["bob@example.net", "Desiree@Example.org", "carol@example.org", "dan@example.org"], text: allKnown),
            ]
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: messages)
            #expect(results.map(\.status) == ["250 2.0.0", "250 2.0.0", "250 2.0.0"], "\(results)")

            let accepted = harness.emulator.acceptedMessages
            try #require(accepted.count == 3)
            // Merged into the existing field, its entry kept byte for byte.
            Self.expectDelivered(accepted[0].mime,
                                 submitted: EndToEndMIME.replacing("<hidden@example.net>\r\n", with: "<hidden@example.net>, extra@example.org\r\n",
                                                                   in: messages[0].data),
                                 extraFields: "")
            #expect(accepted[0].mimeText.contains("Bcc: Hidden Person <hidden@example.net>, extra@example.org\r\nSubject: bcc only\r\n"))
            #expect(accepted[0].to.isEmpty && accepted[0].cc.isEmpty)
            #expect(accepted[0].bcc == ["hidden@example.net", "extra@example.org"])
            // A new field; the duplicate envelope recipient (other case) is added once.
            Self.expectDelivered(accepted[1].mime, submitted: messages[1].data, extraFields: "Bcc: one@example.net, two@example.org\r\n")
            #expect(accepted[1].bcc == ["one@example.net", "two@example.org"])
            // Display names, case, folding, an encoded word and a group: nothing to add.
            Self.expectDelivered(accepted[2].mime, submitted: messages[2].data, extraFields: "")
            #expect(accepted[2].bcc.isEmpty)
        }
    }

    @Test("a message without Message-ID gets one from the relay's host name; nothing else changes")
    func messageIDAdded() async throws {
        try await EndToEndRelay.run { harness in
            let text = "From: \(Self.sender)\r\nTo: bob@example.net\r\nSubject: no id\r\n\r\nbody\r\n"
            let message = EndToEndMessage(from: Self.sender, to: ["bob@example.net"], text: text)
            let result = try await EndToEndClients.curl(.smtps, port: harness.implicitPort, message: message)
            #expect(result.status == 0, "\(result.stderr)")
            let accepted = try #require(harness.emulator.acceptedMessages.first)
            let (_, rest) = try #require(EndToEndMIME.splitReceived(accepted.mime))
            let restText = String(decoding: rest, as: UTF8.self)
            let prefix = "From: \(Self.sender)\r\nTo: bob@example.net\r\nSubject: no id\r\nMessage-ID: <"
            #expect(restText.hasPrefix(prefix), "\(restText.debugDescription)")
            #expect(restText.hasSuffix("@\(EndToEnd.hostname)>\r\n\r\nbody\r\n"), "\(restText.debugDescription)")
            #expect(restText.utf8.count < prefix.utf8.count + 80)
        }
    }

    @Test("8-bit and UTF-8 headers and bodies (SMTPUTF8, 8BITMIME, UTF-8 and Latin-1 bytes) pass unchanged")
    func eightBit() async throws {
        try await EndToEndRelay.run { harness in
            let utf8 = Array("From: \"Jörg Müller\" <\(Self.sender)>\r\nTo: Zoë <zoe@example.net>\r\nSubject: Grüße – ✓ 日本語\r\n".utf8)
                + Array("Message-ID: <utf8@e2e>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".utf8)
                + Array("Grüße aus Köln — ünïcödé ✓ 日本語 🙂\r\n".utf8)
            let latin1 = Array("From: \(Self.sender)\r\nTo: bob@example.net\r\nSubject: latin-1\r\nMessage-ID: <latin1@e2e>\r\n".utf8)
                + Array("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".utf8)
                + [0x43, 0x61, 0x66, 0xE9, 0x20, 0xE0, 0x20, 0x6C, 0x61, 0x20, 0x63, 0x72, 0xE8, 0x6D, 0x65, 0x0D, 0x0A, 0xFF, 0x80, 0x0D, 0x0A]
            let messages = [
                EndToEndMessage(from: Self.sender, to: ["zoe@example.net", "jürgen@exämple.de"], data: utf8, mailOptions: ["SMTPUTF8", "BODY=8BITMIME"]),
                EndToEndMessage(from: Self.sender, to: ["bob@example.net"], data: latin1, mailOptions: ["BODY=8BITMIME"]),
            ]
            let results = try await EndToEndClients.smtplib(.smtps, port: harness.implicitPort, messages: messages)
            #expect(results.map(\.status) == ["250 2.0.0", "250 2.0.0"], "\(results)")
            let curl = try await EndToEndClients.curl(.starttls, port: harness.starttlsPort,
                                                      message: EndToEndMessage(from: Self.sender, to: ["bob@example.net"], data: latin1))
            #expect(curl.status == 0, "\(curl.stderr)")

            let accepted = harness.emulator.acceptedMessages
            try #require(accepted.count == 3)
            Self.expectDelivered(accepted[0].mime, submitted: utf8, extraFields: "Bcc: jürgen@exämple.de\r\n")
            #expect(accepted[0].bcc == ["jürgen@exämple.de"])
            Self.expectDelivered(accepted[1].mime, submitted: latin1, extraFields: "")
            Self.expectDelivered(accepted[2].mime, submitted: latin1, extraFields: "")
        }
    }

    @Test("graph.sendVia: sendMail — a message of exactly the advertised SIZE (3 MB) reaches Graph intact in one sendMail; one byte more is refused by the relay")
    func largestMessage() async throws {
        var setup = EndToEndSetup()
        setup.extraYAML = "graph: { connectTimeout: 5s, requestTimeout: 15s, sendVia: sendMail }"
        try await EndToEndRelay.run(setup) { harness in
            let header = "From: \(Self.sender)\r\nTo: bob@example.net\r\nSubject: big\r\nMessage-ID: <big@e2e>\r\n\r\n"
            let line = Array((String(repeating: "0123456789abcdef", count: 4) + "\r\n").utf8)
            func message(size: Int) -> [UInt8] {
                var bytes = Array(header.utf8)
                while bytes.count + line.count <= size - 2 { bytes += line }
                bytes += Array(repeating: UInt8(ascii: "z"), count: size - 2 - bytes.count) + [0x0D, 0x0A]
                return bytes
            }
            let limit = 3_000_000
            let fits = message(size: limit)
            let tooBig = message(size: limit + 1)
            #expect(fits.count == limit && tooBig.count == limit + 1)
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [
                EndToEndMessage(from: Self.sender, to: ["bob@example.net"], data: fits),
                EndToEndMessage(from: Self.sender, to: ["bob@example.net"], data: tooBig),
            ])
            #expect(results.map(\.status) == ["250 2.0.0", "552 5.3.4"], "\(results)")
            let accepted = try #require(harness.emulator.acceptedMessages.first)
            Self.expectDelivered(accepted.mime, submitted: fits, extraFields: "")
            #expect(harness.emulator.sendMailRequestCount == 1)
        }
    }

    @Test("scheduler.concurrencyPerMailbox: parallel sessions for one mailbox never have more sendMail requests in flight than configured")
    func concurrencyPerMailbox() async throws {
        var setup = EndToEndSetup()
        setup.extraYAML = "graph: { connectTimeout: 5s, requestTimeout: 15s }\nscheduler: { concurrencyPerMailbox: 2 }"
        try await EndToEndRelay.run(setup) { harness in
            try await harness.waitForStartupToken()
            let count = 4
            // Each request takes 3 s at Graph, so the sessions overlap there even when the four
            // clients start slowly on a loaded machine (with 1 s, a run saw only one at a time).
            harness.emulator.injectSendMailFault(.delay(.seconds(3)), count: count, mailbox: Self.sender)
            let port = harness.starttlsPort
            let statuses = try await withThrowingTaskGroup(of: [String].self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await EndToEndClients.smtplib(.starttls, port: port, messages: [Self.message("parallel-\(index)")]).map(\.status)
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(statuses == Array(repeating: "250 2.0.0", count: count))
            #expect(harness.emulator.acceptedMessages.count == count)
            #expect(harness.emulator.maxConcurrentSendMail(mailbox: Self.sender) == 2)
        }
    }

    @Test("shutdown while Graph is still answering: the delivery in progress finishes and the client hears 250")
    func shutdownDuringDelivery() async throws {
        try await EndToEndRelay.run { harness in
            try await harness.waitForStartupToken()
            harness.emulator.injectSendMailFault(.delay(.seconds(1)), mailbox: Self.sender)
            let port = harness.starttlsPort
            let client = Task {
                try await EndToEndClients.smtplib(.starttls, port: port, messages: [Self.message("shutdown")])
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while harness.emulator.sendMailRequestCount == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            try #require(harness.emulator.sendMailRequestCount == 1, "the message never reached Graph")
            await harness.relay.shutdown(gracePeriod: .seconds(10))
            let results = try await client.value
            #expect(results.map(\.status) == ["250 2.0.0"], "\(results)")
            #expect(harness.emulator.acceptedMessages.count == 1)
        }
    }

    @Test("a token is fetched once for many messages over several sessions and clients; connections are reused")
    func tokenOnce() async throws {
        try await EndToEndRelay.run { harness in
            try await harness.waitForStartupToken()
            let messages = (0..<8).map { index in
                EndToEndMessage(from: Self.sender, to: ["bob@example.net"],
                                text: "From: \(Self.sender)\r\nTo: bob@example.net\r\nSubject: n\(index)\r\nMessage-ID: <n\(index)@e2e>\r\n\r\nmessage \(index)\r\n",
                                newConnection: index == 4)
            }
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: messages)
            #expect(results.allSatisfy { $0.status == "250 2.0.0" }, "\(results)")
            let swaks = try await EndToEndClients.swaks(.smtps, port: harness.implicitPort, message: Self.message("token-swaks"))
            #expect(swaks.status == 0, "\(swaks.stdout)")
            let curl = try await EndToEndClients.curl(.starttls, port: harness.starttlsPort, message: Self.message("token-curl"))
            #expect(curl.status == 0, "\(curl.stderr)")

            let emulator = harness.emulator
            #expect(emulator.acceptedMessages.count == 10)
            #expect(emulator.tokenRequestCount == 1)
            #expect(emulator.issuedTokenCount == 1)
            #expect(emulator.sendMailRequestCount == 10)
            #expect(emulator.connectionsAccepted < 11, "one connection per request: keep-alive not used")
        }
    }

    @Test("Graph answers 401 for a revoked token: the relay fetches a new one, sends once more, and the client hears 250")
    func revokedToken() async throws {
        try await EndToEndRelay.run { harness in
            try await harness.waitForStartupToken()
            let first = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [Self.message("before")])
            #expect(first.map(\.status) == ["250 2.0.0"])
            harness.emulator.revokeAllTokens()
            let second = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [Self.message("after")])
            #expect(second.map(\.status) == ["250 2.0.0"], "\(second)")
            #expect(harness.emulator.tokenRequestCount == 2)
            #expect(harness.emulator.sendMailRequestCount == 3)
            #expect(harness.emulator.acceptedMessages.count == 2)
        }
    }

    @Test("certificate credential: the relay signs a client assertion that the emulator verifies with the certificate's public key")
    func certificateCredential() async throws {
        var setup = EndToEndSetup()
        setup.credential = .certificate(certificate: EndToEnd.pki.serverCertificate, privateKey: EndToEnd.pki.serverKey)
        try await EndToEndRelay.run(setup) { harness in
            let swaks = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, message: Self.message("certificate"))
            #expect(swaks.status == 0, "\(swaks.stdout)")
            let accepted = try #require(harness.emulator.acceptedMessages.first)
            Self.expectDelivered(accepted.mime, submitted: Self.message("certificate").data, extraFields: "Bcc: carol@example.org\r\n")
            #expect(harness.emulator.issuedTokenCount == 1)
            let logs = harness.logs.text
            #expect(!logs.contains("client_assertion="))
        }
    }

    @Test("certificate credential: an assertion signed with a key the tenant does not know gets no token, and the client 451 4.7.0")
    func certificateNotRegistered() async throws {
        var setup = EndToEndSetup()
        setup.credential = .certificate(certificate: EndToEnd.pki.serverCertificate, privateKey: EndToEnd.pki.serverKey)
        let otherCertificate = try String(contentsOfFile: EndToEnd.pki.expiredCertificate, encoding: .utf8)
        setup.emulator = { configuration in
            configuration.applications[0].certificates = [otherCertificate]
        }
        try await EndToEndRelay.run(setup) { harness in
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [Self.message("unregistered")])
            #expect(results.map(\.status) == ["451 4.7.0"], "\(results)")
            #expect(harness.emulator.issuedTokenCount == 0)
            #expect(harness.emulator.acceptedMessages.isEmpty)
            #expect(harness.logs.text.contains("700027"), "the token error's AADSTS code is logged")
        }
    }
}
