import Foundation
import GraphRelayTestSupport
import Testing
@testable import GraphRelaySMTP

/// Real clients against the real listener on 127.0.0.1: Python smtplib, swaks and curl, over
/// plain, STARTTLS and implicit TLS, with AUTH PLAIN and LOGIN and pipelining. The clients trust
/// only the test CA.
@Suite("SMTP interop with real clients")
struct SMTPInteropTests {
    static var ca: String { TestPKI.shared.caCertificate }

    static let pythonClient = #"""
    import smtplib, ssl, sys
    mode, port, ca, mech, sender = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    recipients = sys.argv[6].split(",")
    context = ssl.create_default_context(cafile=ca)
    if mode == "smtps":
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=10)
    else:
        s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.ehlo("smtplib.test")
    if mode == "starttls":
        s.starttls(context=context)
        s.ehlo("smtplib.test")
    s.user, s.password = "alice", "secret"
    if mech == "PLAIN":
        s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
    elif mech == "LOGIN":
        s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    elif mech == "LOGIN-INITIAL":
        s.auth("LOGIN", s.auth_login, initial_response_ok=True)
    message = ("From: <%s>\r\nTo: <%s>\r\nSubject: smtplib %s %s\r\n\r\nHello from smtplib\r\n.leading dot\r\n" % (sender, recipients[0], mode, mech))
    options = ["SMTPUTF8"] if any(ord(c) > 127 for c in sender) else []
    try:
        refused = s.sendmail(sender, recipients, message.encode("utf-8"), mail_options=options)
        print("refused:", sorted((r, code) for r, (code, _) in refused.items()))
    except smtplib.SMTPRecipientsRefused as e:
        print("all refused:", sorted((r, code) for r, (code, _) in e.recipients.items()))
    s.quit()
    """#

    func python(_ mode: String, port: Int, mechanism: String, sender: String = "a@example.com", recipients: [String] = ["b@example.org"]) async throws -> ProcessResult {
        try await ProcessRunner.run("python3", ["-c", Self.pythonClient, mode, "\(port)", Self.ca, mechanism, sender, recipients.joined(separator: ",")])
    }

    // MARK: Python smtplib

    @Test("smtplib: plain, STARTTLS + AUTH PLAIN, implicit TLS + AUTH LOGIN (prompts and initial user name)")
    func smtplib() async throws {
        try await withSMTPServer { fixture in
            let runs: [(String, Int, String)] = [
                ("plain", fixture.plainPort, "NONE"),
                ("starttls", fixture.submissionPort, "PLAIN"),
                ("smtps", fixture.smtpsPort, "LOGIN"),
                ("starttls", fixture.submissionPort, "LOGIN-INITIAL"),
            ]
            for (mode, port, mechanism) in runs {
                let result = try await python(mode, port: port, mechanism: mechanism)
                #expect(result.status == 0, "\(mode) \(mechanism): \(result.stderr)")
                #expect(result.stdout.contains("refused: []"), "\(result.stdout)")
            }
            let deliveries = fixture.policy.deliveries
            #expect(deliveries.count == 4)
            for (delivery, (mode, _, mechanism)) in zip(deliveries, runs) {
                #expect(delivery.content.contains("Subject: smtplib \(mode) \(mechanism)\r\n\r\nHello from smtplib\r\n.leading dot\r\n"))
                #expect((delivery.session.tls != nil) == (mode != "plain"))
                #expect(delivery.session.authenticatedUser == (mechanism == "NONE" ? nil : "alice"))
                #expect(delivery.session.heloName == "smtplib.test")
            }
        }
    }

    @Test("smtplib: an internationalised sender with SMTPUTF8, and refused recipients")
    func smtplibEdgeCases() async throws {
        let policy = TestPolicy(recipientRule: { $0.address.hasPrefix("blocked") ? .reject(.relayAccessDenied($0.address)) : .accept })
        try await withSMTPServer(policy: policy) { fixture in
            let utf8 = try await python("plain", port: fixture.plainPort, mechanism: "NONE", sender: "jöran@exämple.de", recipients: ["b@example.org", "blocked@example.org"])
            #expect(utf8.status == 0, "\(utf8.stderr)")
            #expect(utf8.stdout.contains("refused: [('blocked@example.org', 554)]"), "\(utf8.stdout)")
            let refused = try await python("plain", port: fixture.plainPort, mechanism: "NONE", recipients: ["blocked@example.org"])
            #expect(refused.stdout.contains("all refused: [('blocked@example.org', 554)]"), "\(refused.stdout) \(refused.stderr)")
            #expect(fixture.policy.deliveries.count == 1)
            #expect(fixture.policy.deliveries.first?.envelope.sender.address == "jöran@exämple.de")
            #expect(fixture.policy.deliveries.first?.envelope.parameters.smtpUTF8 == true)
        }
    }

    // MARK: swaks

    func swaks(_ fixture: SMTPServerFixture, _ extra: [String], port: Int) async throws -> ProcessResult {
        try await ProcessRunner.run("swaks", [
            "--server", "127.0.0.1", "--port", "\(port)", "--from", "a@example.com", "--to", "b@example.org",
            "--ehlo", "swaks.test", "--timeout", "10", "--header", "Subject: swaks", "--body", "Hello from swaks",
        ] + extra)
    }

    @Test("swaks: plain with pipelining, STARTTLS + AUTH PLAIN + pipelining, implicit TLS + AUTH LOGIN")
    func swaksSessions() async throws {
        try await withSMTPServer { fixture in
            let tls = ["--tls-verify", "--tls-ca-path", Self.ca]
            let runs: [(String, [String], Int)] = [
                ("plain", ["--pipeline"], fixture.plainPort),
                ("starttls", ["-tls"] + tls + ["--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "secret", "--pipeline"], fixture.submissionPort),
                ("implicit", ["-tlsc"] + tls + ["--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "secret"], fixture.smtpsPort),
            ]
            for (name, arguments, port) in runs {
                let result = try await swaks(fixture, arguments, port: port)
                #expect(result.status == 0, "\(name): \(result.stdout) \(result.stderr)")
                #expect(result.stdout.contains("250 2.0.0 Ok: queued as"), "\(name)")
            }
            let deliveries = fixture.policy.deliveries
            #expect(deliveries.count == 3)
            #expect(deliveries.map { $0.session.tls != nil } == [false, true, true])
            #expect(deliveries.map(\.session.authenticatedUser) == [nil, "alice", "alice"])
            #expect(deliveries.allSatisfy { $0.content.contains("Subject: swaks") && $0.content.contains("Hello from swaks") })
        }
    }

    @Test("swaks: a wrong password gets 535 5.7.8; AUTH is not offered over plaintext")
    func swaksRefusals() async throws {
        try await withSMTPServer { fixture in
            let wrong = try await swaks(fixture, ["-tls", "--tls-ca-path", Self.ca, "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "nope"], port: fixture.submissionPort)
            #expect(wrong.status != 0)
            #expect(wrong.stdout.contains("535 5.7.8"), "\(wrong.stdout)")
            let plaintext = try await swaks(fixture, ["--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "secret"], port: fixture.submissionPort)
            #expect(plaintext.status != 0)
            #expect(plaintext.stdout.contains("250-STARTTLS") && !plaintext.stdout.contains("250-AUTH"), "\(plaintext.stdout)")
            #expect(fixture.policy.deliveries.isEmpty)
        }
    }

    // MARK: curl

    static let curlMessage = Data("From: <a@example.com>\r\nTo: <b@example.org>\r\nSubject: curl\r\n\r\nHello from curl\r\n.leading dot\r\n".utf8)

    func curl(_ url: String, _ extra: [String]) async throws -> ProcessResult {
        try await ProcessRunner.run("curl", [
            "--silent", "--show-error", "--max-time", "20", "--url", url, "--mail-from", "a@example.com",
            "--mail-rcpt", "b@example.org", "--upload-file", "-",
        ] + extra, input: Self.curlMessage)
    }

    @Test("curl: smtp:// plain, smtp:// with --ssl-reqd (STARTTLS) + AUTH PLAIN, smtps:// + AUTH LOGIN")
    func curlSessions() async throws {
        try await withSMTPServer { fixture in
            let runs: [(String, [String])] = [
                ("smtp://127.0.0.1:\(fixture.plainPort)", []),
                ("smtp://127.0.0.1:\(fixture.submissionPort)", ["--ssl-reqd", "--cacert", Self.ca, "--user", "alice:secret", "--login-options", "AUTH=PLAIN"]),
                ("smtps://127.0.0.1:\(fixture.smtpsPort)", ["--cacert", Self.ca, "--user", "alice:secret", "--login-options", "AUTH=LOGIN"]),
            ]
            for (url, arguments) in runs {
                let result = try await curl(url, arguments)
                #expect(result.status == 0, "\(url): \(result.stderr)")
            }
            let deliveries = fixture.policy.deliveries
            #expect(deliveries.count == 3)
            #expect(deliveries.map { $0.session.tls != nil } == [false, true, true])
            #expect(deliveries.map(\.session.authenticatedUser) == [nil, "alice", "alice"])
            #expect(deliveries.allSatisfy { $0.content.hasSuffix("Subject: curl\r\n\r\nHello from curl\r\n.leading dot\r\n") })
        }
    }

    @Test("curl: TLS to a plaintext port fails cleanly; --ssl-reqd where STARTTLS is not offered fails")
    func curlFailures() async throws {
        try await withSMTPServer { fixture in
            let hello = try await curl("smtps://127.0.0.1:\(fixture.plainPort)", ["--cacert", Self.ca])
            #expect(hello.status != 0)
            let required = try await curl("smtp://127.0.0.1:\(fixture.plainPort)", ["--ssl-reqd", "--cacert", Self.ca])
            #expect(required.status != 0)
            #expect(fixture.policy.deliveries.isEmpty)
        }
    }
}
