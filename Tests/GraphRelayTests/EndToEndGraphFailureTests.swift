import Foundation
import GraphEmulator
import GraphRelayTestSupport
import NIOCore
import Testing

/// Every class of Graph failure reaches the SMTP client as its mapped reply (docs/graph.md,
/// "Outcomes and SMTP replies"), through the real relay and real HTTPS.
@Suite("End to end: Graph failures become the mapped SMTP replies", .timeLimit(.minutes(1)))
struct EndToEndGraphFailureTests {
    /// One failure class: the mailbox it is sent as (the route's `mailbox: sender`), how the
    /// emulator is made to fail, and the reply the device must hear.
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var faults: [GraphEmulatorFault] = []
        var reply: String
        var replyText: String?
        var from: String?
        var to = "bob@example.net"
        var bodyBytes = 0

        var mailbox: String { "\(name)@\(EndToEnd.domain)" }
        var description: String { name }

        var message: EndToEndMessage {
            let from = self.from ?? mailbox
            var text = "From: \(from)\r\nTo: \(to)\r\nSubject: failure \(name)\r\nMessage-ID: <\(name)@e2e>\r\n\r\n"
            if bodyBytes > 0 {
                let line = String(repeating: "x", count: 998) + "\r\n"
                text += String(repeating: line, count: bodyBytes / line.utf8.count + 1)
            } else {
                text += "body\r\n"
            }
            return EndToEndMessage(from: mailbox, to: [to], text: text)
        }
    }

    static let cases: [Case] = [
        Case(name: "throttled", faults: [.throttle(retryAfter: "2.5")], reply: "451 4.4.5", replyText: "throttling"),
        Case(name: "unavailable", faults: [.serviceUnavailable(retryAfter: "7")], reply: "451 4.4.5", replyText: "unavailable"),
        Case(name: "gateway", faults: [.gatewayTimeout], reply: "451 4.4.1", replyText: "No answer"),
        Case(name: "servererror", faults: [.error(status: 500, code: "InternalServerError", message: "Something broke")], reply: "451 4.4.0"),
        // Dropped before the body was processed; twice, as a reused connection gets one transparent retry.
        Case(name: "dropped", faults: [.dropDuringRequest, .dropDuringRequest], reply: "451 4.4.2", replyText: "Connection"),
        // The whole request was sent and no answer came: ambiguous, never retried by the client.
        Case(name: "noanswer", faults: [.dropAfterRequest], reply: "451 4.4.2"),
        Case(name: "badcontent", faults: [.error(status: 400, code: "ErrorMimeContentInvalidBase64String", message: "Invalid base64 string for MIME content.")],
             reply: "554 5.6.0", replyText: "Invalid base64 string for MIME content."),
        Case(name: "sizeexceeded", faults: [.error(status: 400, code: "ErrorMessageSizeExceeded", message: "The message exceeds the maximum supported size.")],
             reply: "552 5.3.4"),
        // Real validation from here on: the emulator's request limit, recipients, mailboxes, rights.
        Case(name: "toolarge", reply: "552 5.3.4", replyText: "too big", bodyBytes: 300_000),
        Case(name: "invalidrcpt", reply: "550 5.1.3", replyText: "Recipients rejected", to: "nobody@invalid.example"),
        Case(name: "ghost", reply: "550 5.1.1", replyText: "ghost@contoso.test unknown"),
        Case(name: "sendas", reply: "550 5.7.1", replyText: "does not have the right to send", from: "alice@\(EndToEnd.domain)"),
        Case(name: "policy", reply: "550 5.7.1", replyText: "Access to OData is disabled"),
    ]

    static var setup: EndToEndSetup {
        var setup = EndToEndSetup()
        let mailboxes = cases.filter { $0.name != "ghost" }.map(\.mailbox) + ["alice@\(EndToEnd.domain)"]
        setup.mailboxes = mailboxes.map { GraphEmulatorConfiguration.Mailbox($0) }
        setup.emulator = { configuration in
            configuration.maxRequestBytes = 256 * 1024
            configuration.invalidRecipients = ["nobody@invalid.example"]
            configuration.applications[0].allowedMailboxes = mailboxes.filter { !$0.hasPrefix("policy@") }
        }
        return setup
    }

    @Test("429 + Retry-After, 503, 504, 500, dropped connections, invalid content, size, invalid recipients, unknown mailbox, send-as and access denied")
    func failureClasses() async throws {
        try await EndToEndRelay.run(Self.setup) { harness in
            for failure in Self.cases {
                for fault in failure.faults {
                    harness.emulator.injectSendMailFault(fault, mailbox: failure.mailbox)
                }
            }
            // One session for all of them: every failure leaves the session usable.
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: Self.cases.map(\.message))
            try #require(results.count == Self.cases.count, "\(results)")
            for (failure, result) in zip(Self.cases, results) {
                #expect(result.stage == "data", "\(failure): \(result)")
                #expect(result.status == failure.reply, "\(failure): \(result)")
                if let text = failure.replyText {
                    #expect(result.text.contains(text), "\(failure): \(result)")
                }
            }
            #expect(harness.emulator.acceptedMessages.isEmpty)
            // Retry-After reached the relay, fractional seconds included.
            let logs = harness.logs.text
            #expect(logs.contains("graph.retry-after-ms=2500"), "Retry-After 2.5 not in the log")
            #expect(logs.contains("graph.retry-after-ms=7000"), "Retry-After 7 not in the log")
            // After all that, a normal message still goes through on the same relay.
            let after = try await EndToEndClients.smtplib(.smtps, port: harness.implicitPort, messages: [
                EndToEndMessage(from: "alice@\(EndToEnd.domain)", to: ["bob@example.net"],
                                text: "From: alice@\(EndToEnd.domain)\r\nTo: bob@example.net\r\nSubject: fine\r\n\r\nok\r\n"),
            ])
            #expect(after.map(\.status) == ["250 2.0.0"], "\(after)")
        }
    }

    @Test("swaks and curl see the mapped replies too (451 for 429, 550 5.1.1 for an unknown mailbox)")
    func failuresAtOtherClients() async throws {
        try await EndToEndRelay.run(Self.setup) { harness in
            let throttled = Self.cases.first { $0.name == "throttled" }!
            harness.emulator.injectSendMailFault(.throttle(retryAfter: "1"), mailbox: throttled.mailbox)
            let swaks = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, message: throttled.message)
            #expect(swaks.status != 0)
            #expect(swaks.stdout.contains(" 451 4.4.5 Microsoft Graph is throttling"), "\(swaks.stdout)")

            let ghost = Self.cases.first { $0.name == "ghost" }!
            let curl = try await EndToEndClients.curl(.smtps, port: harness.implicitPort, message: ghost.message, extra: ["--verbose"])
            #expect(curl.status != 0)
            #expect(curl.stderr.contains("< 550 5.1.1 Mailbox ghost@contoso.test unknown to Microsoft Graph"), "\(curl.stderr)")
            #expect(harness.emulator.acceptedMessages.isEmpty)
        }
    }

    @Test("a header section longer than smtp.maxHeaderSize: 552 5.3.4 from the relay, no Graph request")
    func headerTooLong() async throws {
        try await EndToEndRelay.run { harness in
            let mailbox = "alice@\(EndToEnd.domain)"
            let filler = (0..<3_000).map { "X-Filler-\($0): " + String(repeating: "f", count: 90) + "\r\n" }.joined()
            let text = "From: \(mailbox)\r\nTo: bob@example.net\r\n" + filler + "Subject: long header\r\n\r\nx\r\n"
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [
                EndToEndMessage(from: mailbox, to: ["bob@example.net"], text: text),
            ])
            #expect(results.map(\.status) == ["552 5.3.4"], "\(results)")
            #expect(results.first?.text.contains("header section longer than 262144 bytes") == true, "\(results)")
            #expect(harness.emulator.sendMailRequestCount == 0)
        }
    }

    @Test("graph.requestTimeout bounds sendMail: a Graph slower than it gives 451 4.4.1, logged as ambiguous")
    func slowGraph() async throws {
        var setup = EndToEndSetup()
        // 3 s: connecting and sending the body must fit in it on a loaded machine (only then is
        // the outcome ambiguous).
        setup.extraYAML = "graph: { connectTimeout: 5s, requestTimeout: 3s }"
        try await EndToEndRelay.run(setup) { harness in
            try await harness.waitForStartupToken()
            let mailbox = "alice@\(EndToEnd.domain)"
            harness.emulator.injectSendMailFault(.delay(.seconds(10)), mailbox: mailbox)
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [
                EndToEndMessage(from: mailbox, to: ["bob@example.net"], text: "From: \(mailbox)\r\nTo: bob@example.net\r\nSubject: slow\r\n\r\nx\r\n"),
            ])
            #expect(results.map(\.status) == ["451 4.4.1"], "\(results)")
            #expect(harness.logs.text.contains("graph.ambiguous=true"))
        }
    }

    @Test("graph.requestTimeout bounds token requests: a login endpoint slower than it gives 451 4.7.0")
    func slowLogin() async throws {
        var setup = EndToEndSetup()
        // 3 s: the sendMail that finds the token revoked must finish within it on a loaded machine.
        setup.extraYAML = "graph: { connectTimeout: 5s, requestTimeout: 3s }"
        try await EndToEndRelay.run(setup) { harness in
            try await harness.waitForStartupToken()
            harness.emulator.revokeAllTokens()
            harness.emulator.injectTokenFault(.delay(.seconds(10)), count: 2)
            let mailbox = "alice@\(EndToEnd.domain)"
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [
                EndToEndMessage(from: mailbox, to: ["bob@example.net"], text: "From: \(mailbox)\r\nTo: bob@example.net\r\nSubject: slow\r\n\r\nx\r\n"),
            ])
            #expect(results.map(\.status) == ["451 4.7.0"], "\(results)")
            #expect(harness.emulator.acceptedMessages.isEmpty)
        }
    }

    // MARK: Tokens

    @Test("a wrong client secret: 451 4.7.0 at the client, the AADSTS code and a remedy in the log, the secret nowhere")
    func wrongSecret() async throws {
        var setup = EndToEndSetup()
        let wrong = "Wrong~Secret.0815-value"
        setup.credential = .secret(wrong)
        try await EndToEndRelay.run(setup) { harness in
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [
                EndToEndMessage(from: "alice@\(EndToEnd.domain)", to: ["bob@example.net"],
                                text: "From: alice@\(EndToEnd.domain)\r\nTo: bob@example.net\r\nSubject: s\r\n\r\nx\r\n"),
            ])
            #expect(results.map(\.status) == ["451 4.7.0"], "\(results)")
            #expect(harness.emulator.issuedTokenCount == 0)
            #expect(harness.emulator.sendMailRequestCount == 0)
            let logs = harness.logs.text
            #expect(logs.contains("7000215"), "AADSTS code not logged")
            #expect(logs.contains("fix:"), "no remedy logged")
            #expect(!logs.contains(wrong))
            #expect(!logs.contains(EndToEnd.clientSecret))
        }
    }

    @Test("token endpoint failures (outage, 503 HTML, disabled app) after a revoked token: 451 4.7.0, then recovery")
    func tokenFaults() async throws {
        try await EndToEndRelay.run { harness in
            try await harness.waitForStartupToken()
            let faults: [GraphEmulatorTokenFault] = [
                .outage, .unavailable,
                .error(status: 400, error: "unauthorized_client", code: 7000112, description: "Application 'x' is disabled."),
            ]
            let message = EndToEndMessage(from: "alice@\(EndToEnd.domain)", to: ["bob@example.net"],
                                          text: "From: alice@\(EndToEnd.domain)\r\nTo: bob@example.net\r\nSubject: t\r\n\r\nx\r\n")
            for fault in faults {
                // The cached token stops working; the relay must fetch a new one and meets the fault.
                harness.emulator.revokeAllTokens()
                harness.emulator.clearFaults()
                harness.emulator.injectTokenFault(fault, count: 2)
                let results = try await EndToEndClients.smtplib(.smtps, port: harness.implicitPort, messages: [message])
                #expect(results.map(\.status) == ["451 4.7.0"], "\(fault): \(results)")
            }
            #expect(harness.logs.text.contains("7000112"))
            harness.emulator.clearFaults()
            let recovered = try await EndToEndClients.smtplib(.smtps, port: harness.implicitPort, messages: [message])
            #expect(recovered.map(\.status) == ["250 2.0.0"], "\(recovered)")
            #expect(harness.emulator.acceptedMessages.count == 1)
        }
    }
}
