import Foundation
import GraphRelayTestSupport
import Testing

/// Access control at MAIL FROM through the whole relay (issue 4 item 6): untrusted and
/// unauthenticated → 530 5.7.0; a user outside its allowed senders → 553 5.7.1; no route → 550 5.7.1.
@Suite("End to end: access control", .timeLimit(.minutes(1)))
struct EndToEndAccessTests {
    static func message(from sender: String) -> EndToEndMessage {
        EndToEndMessage(from: sender, to: ["bob@example.net"],
                        text: "From: \(sender)\r\nTo: bob@example.net\r\nSubject: access\r\nMessage-ID: <access.\(UUID().uuidString)@e2e>\r\n\r\nx\r\n")
    }

    /// 127.0.0.1 is not a trusted network here: only AUTH lets a client relay.
    static var untrusted: EndToEndSetup {
        var setup = EndToEndSetup()
        setup.trustedNetworks = ["10.0.0.0/8", "2001:db8::/32"]
        return setup
    }

    @Test("untrusted client: without AUTH 530 5.7.0 (smtplib, swaks, curl); with AUTH delivered; another domain for the user 553 5.7.1")
    func untrustedNetwork() async throws {
        try await EndToEndRelay.run(Self.untrusted) { harness in
            let sender = "alice@\(EndToEnd.domain)"
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, authenticate: false,
                                                            messages: [Self.message(from: sender)])
            #expect(results.map(\.stage) == ["mail"])
            #expect(results.map(\.status) == ["530 5.7.0"], "\(results)")

            let swaks = try await EndToEndClients.swaks(.smtps, port: harness.implicitPort, authenticate: false, message: Self.message(from: sender))
            #expect(swaks.status != 0)
            #expect(swaks.stdout.contains(" 530 5.7.0"), "\(swaks.stdout)")

            let curl = try await EndToEndClients.curl(.starttls, port: harness.starttlsPort, authenticate: false,
                                                      message: Self.message(from: sender), extra: ["--verbose"])
            #expect(curl.status != 0)
            #expect(curl.stderr.contains("< 530 5.7.0"), "\(curl.stderr)")

            // The same client after AUTH: allowed for its domain, refused for another one.
            let authenticated = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [
                Self.message(from: sender), Self.message(from: "someone@elsewhere.example"),
            ])
            #expect(authenticated.map(\.status) == ["250 2.0.0", "553 5.7.1"], "\(authenticated)")
            #expect(authenticated.last?.stage == "mail")

            let swaksDenied = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, message: Self.message(from: "someone@elsewhere.example"))
            #expect(swaksDenied.status != 0)
            #expect(swaksDenied.stdout.contains(" 553 5.7.1"), "\(swaksDenied.stdout)")

            let wrongPassword = await #expect(throws: EndToEndError.self) {
                try await EndToEndClients.smtplib(.smtps, port: harness.implicitPort, password: "not-the-password",
                                                  messages: [Self.message(from: sender)])
            }
            #expect(wrongPassword?.description.contains("535") == true, "\(String(describing: wrongPassword))")
            #expect(harness.emulator.acceptedMessages.count == 1)
        }
    }

    @Test("a trusted client with a sender no route matches: 550 5.7.1 at MAIL FROM (smtplib, curl)")
    func noRoute() async throws {
        try await EndToEndRelay.run { harness in
            let results = try await EndToEndClients.smtplib(.smtps, port: harness.implicitPort, authenticate: false,
                                                            messages: [Self.message(from: "scanner@printer.local")])
            #expect(results.map(\.stage) == ["mail"])
            #expect(results.map(\.status) == ["550 5.7.1"], "\(results)")
            // The null sender (bounces) needs a route of its own too.
            let bounce = try await EndToEndClients.smtplib(.smtps, port: harness.implicitPort, authenticate: false,
                                                           messages: [Self.message(from: "")])
            #expect(bounce.map(\.status) == ["550 5.7.1"], "\(bounce)")

            let curl = try await EndToEndClients.curl(.smtps, port: harness.implicitPort, authenticate: false,
                                                      message: Self.message(from: "scanner@printer.local"), extra: ["--verbose"])
            #expect(curl.status != 0)
            #expect(curl.stderr.contains("< 550 5.7.1"), "\(curl.stderr)")
            #expect(harness.emulator.sendMailRequestCount == 0)
            #expect(harness.logs.text.contains("no route for sender"))
        }
    }

    @Test("a catch-all route with rewriteFrom sends a device's message as the route's mailbox with the device named in From")
    func rewriteFromRoute() async throws {
        var setup = EndToEndSetup()
        setup.routes = [#"{ sender: "*", application: contoso, mailbox: "scanner@\#(EndToEnd.domain)", rewriteFrom: true }"#]
        try await EndToEndRelay.run(setup) { harness in
            let text = "From: scanner@printer.local\r\nSender: scanner@printer.local\r\nTo: bob@example.net\r\nSubject: scan\r\nMessage-ID: <scan@e2e>\r\n\r\nscan\r\n"
            let message = EndToEndMessage(from: "scanner@printer.local", to: ["bob@example.net"], text: text)
            let swaks = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, authenticate: false, message: message)
            #expect(swaks.status == 0, "\(swaks.stdout)")
            let accepted = try #require(harness.emulator.acceptedMessages.first)
            #expect(accepted.mailbox == "scanner@\(EndToEnd.domain)")
            let (_, rest) = try #require(EndToEndMIME.splitReceived(accepted.mime))
            let expected = "From: \"scanner at printer.local\" <scanner@\(EndToEnd.domain)>\r\nTo: bob@example.net\r\nSubject: scan\r\nMessage-ID: <scan@e2e>\r\n\r\nscan\r\n"
            #expect(EndToEndBytes(rest) == EndToEndBytes(Array(expected.utf8)))
        }
    }
}
