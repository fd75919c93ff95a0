import Foundation
import GraphRelayTestSupport
import Testing

/// Access control at MAIL FROM through the whole relay: untrusted and
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

    @Test("swaks: after authFailureLimit wrong passwords from 127.0.0.1, AUTH there gets 454 4.7.0 even with the right one; 127.0.0.2 still logs in")
    func bruteForceLimit() async throws {
        var setup = Self.untrusted
        setup.accessKeys = ["authFailureLimit: 3"]
        try await EndToEndRelay.run(setup) { harness in
            let sender = "alice@\(EndToEnd.domain)"
            for _ in 0..<3 {
                let wrong = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, password: "guess", message: Self.message(from: sender),
                                                            extra: ["--local-interface", "127.0.0.1"])
                #expect(wrong.stdout.contains(" 535 5.7.8"), "\(wrong.stdout)")
            }
            let refused = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, message: Self.message(from: sender),
                                                          extra: ["--local-interface", "127.0.0.1"])
            #expect(refused.status != 0)
            #expect(refused.stdout.contains(" 454 4.7.0"), "\(refused.stdout)")
            let other = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, message: Self.message(from: sender),
                                                        extra: ["--local-interface", "127.0.0.2"])
            #expect(other.status == 0, "\(other.stdout)")
            #expect(harness.emulator.acceptedMessages.count == 1)
            #expect(harness.logs.text.contains("AUTH from 127.0.0.1 refused for 60 s after 3 failed attempt(s)"), "\(harness.logs.text)")
        }
    }

    @Test("requireHeaderFromMatch: a From: header other than the envelope sender gets 550 5.7.1 after DATA (smtplib, swaks); a matching one is delivered")
    func headerFromMatch() async throws {
        var setup = EndToEndSetup()
        setup.routes = [#"{ sender: "*@\#(EndToEnd.domain)", application: contoso, mailbox: sender, requireHeaderFromMatch: true }"#]
        try await EndToEndRelay.run(setup) { harness in
            let sender = "alice@\(EndToEnd.domain)"
            func message(from header: String) -> EndToEndMessage {
                EndToEndMessage(from: sender, to: ["bob@example.net"],
                                text: "From: \(header)\r\nTo: bob@example.net\r\nSubject: from\r\nMessage-ID: <from.\(UUID().uuidString)@e2e>\r\n\r\nx\r\n")
            }
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, authenticate: false, messages: [
                message(from: "CEO <ceo@\(EndToEnd.domain)>"),
                message(from: "Alice <ALICE@\(EndToEnd.domain)>"),
                message(from: "alice@\(EndToEnd.domain), ceo@\(EndToEnd.domain)"),
            ])
            #expect(results.map(\.stage) == ["data", "data", "data"])
            #expect(results.map(\.status) == ["550 5.7.1", "250 2.0.0", "550 5.7.1"], "\(results)")
            let swaks = try await EndToEndClients.swaks(.smtps, port: harness.implicitPort, authenticate: false,
                                                        message: message(from: "ceo@\(EndToEnd.domain)"))
            #expect(swaks.status != 0)
            #expect(swaks.stdout.contains("550 5.7.1 Error: the From: header address must be the envelope sender"), "\(swaks.stdout)")
            #expect(harness.emulator.acceptedMessages.count == 1)
            #expect(harness.logs.text.contains("is not the envelope sender <alice@\(EndToEnd.domain)> (requireHeaderFromMatch)"))
        }
    }

    @Test("allowLegacyProtocols on one listener: openssl s_client -tls1 is served there and refused on the other listener")
    func legacyListener() async throws {
        var setup = EndToEndSetup()
        setup.implicitListenerKeys = ["allowLegacyProtocols: true"]
        try await EndToEndRelay.run(setup) { harness in
            func sClient(_ extra: [String]) async throws -> ProcessResult {
                try await ProcessRunner.run("openssl", ["s_client", "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0",
                                                        "-CAfile", EndToEnd.pki.caCertificate, "-quiet"] + extra,
                                            input: Data("EHLO old-printer\r\nQUIT\r\n".utf8), timeout: 20)
            }
            let legacy = try await sClient(["-connect", "127.0.0.1:\(harness.implicitPort)"])
            #expect(legacy.stdout.contains("220 \(EndToEnd.hostname)"), "\(legacy.stdout) \(legacy.stderr)")
            #expect(legacy.stdout.contains("221 "))
            let modern = try await sClient(["-connect", "127.0.0.1:\(harness.starttlsPort)", "-starttls", "smtp"])
            #expect(modern.status != 0)
            #expect(!modern.stdout.contains("221 "), "\(modern.stdout)")
            // TLS 1.2 with an AEAD suite still works on both; the legacy one also offers CBC to old devices.
            let cbc = try await ProcessRunner.run("openssl", ["s_client", "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA",
                                                              "-CAfile", EndToEnd.pki.caCertificate, "-quiet", "-connect", "127.0.0.1:\(harness.implicitPort)"],
                                                  input: Data("QUIT\r\n".utf8), timeout: 20)
            #expect(cbc.stdout.contains("221 "), "\(cbc.stdout) \(cbc.stderr)")
            let cbcModern = try await ProcessRunner.run("openssl", ["s_client", "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA",
                                                                    "-CAfile", EndToEnd.pki.caCertificate, "-quiet", "-starttls", "smtp",
                                                                    "-connect", "127.0.0.1:\(harness.starttlsPort)"],
                                                        input: Data("QUIT\r\n".utf8), timeout: 20)
            #expect(!cbcModern.stdout.contains("221 "), "\(cbcModern.stdout)")
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
