import Foundation
import GraphRelayTestSupport
import Testing

/// The relay checked against a second reading of Graph: an independent stand-in written from the sendMail
/// reference alone (Fixtures/graph_standin.py: Python's http.server + ssl, its own base64, MIME and
/// JWT handling, signatures checked with `openssl dgst`), messages from real clients arrive intact
/// with every envelope recipient, via secret and via certificate credentials.
@Suite("End to end: an independent Graph stand-in", .timeLimit(.minutes(1)))
struct EndToEndStandInTests {
    enum CredentialKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case secret, certificate
        var testDescription: String { rawValue }
    }

    static let sender = "alice@\(EndToEnd.domain)"

    static func startStandIn(clientCertificate: String = EndToEnd.pki.serverCertificate) async throws -> EndToEndGraphStandIn {
        try await EndToEndGraphStandIn.start(
            script: EndToEnd.fixtures + "/graph_standin.py",
            certificate: EndToEnd.pki.serverCertificate, privateKey: EndToEnd.pki.serverKey,
            tenant: EndToEnd.tenant, clientID: EndToEnd.clientID,
            clientSecret: EndToEnd.clientSecret, clientCertificate: clientCertificate
        )
    }

    static func setup(_ kind: CredentialKind) -> EndToEndSetup {
        var setup = EndToEndSetup()
        if kind == .certificate {
            setup.credential = .certificate(certificate: EndToEnd.pki.serverCertificate, privateKey: EndToEnd.pki.serverKey)
        }
        return setup
    }

    static func message(_ tag: String) -> EndToEndMessage {
        let text = "From: \"Alice\" <\(sender)>\r\nTo: bob@example.net\r\nCc: Carol <carol@example.org>\r\n"
            + "Subject: stand-in \(tag)\r\nMessage-ID: <standin.\(tag)@e2e>\r\nMIME-Version: 1.0\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + "Grüße from \(tag)\r\n.dot line\r\n"
        return EndToEndMessage(from: sender, to: ["bob@example.net", "carol@example.org", "dave@example.com", "erin@example.com"],
                               text: text, mailOptions: ["BODY=8BITMIME"])
    }

    @Test("swaks, curl and smtplib → graph-relay → stand-in: intact, every envelope recipient, one token", arguments: CredentialKind.allCases)
    func delivery(_ kind: CredentialKind) async throws {
        let standIn = try await Self.startStandIn()
        defer { standIn.stop() }
        try await EndToEndRelay.run(Self.setup(kind), graphURL: standIn.baseURL) { harness in
            let swaks = try await EndToEndClients.swaks(.starttls, port: harness.starttlsPort, message: Self.message("swaks"))
            #expect(swaks.status == 0, "\(swaks.stdout)\n\(standIn.output)")
            let curl = try await EndToEndClients.curl(.smtps, port: harness.implicitPort, message: Self.message("curl"))
            #expect(curl.status == 0, "\(curl.stderr)\n\(standIn.output)")
            let smtplib = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, authenticate: false,
                                                            messages: [Self.message("smtplib")])
            #expect(smtplib.map(\.status) == ["250 2.0.0"], "\(smtplib)\n\(standIn.output)")

            let messages = try standIn.messages()
            #expect(messages.count == 3, "\(standIn.output)")
            for (tag, message) in zip(["swaks", "curl", "smtplib"], messages) {
                let submitted = Self.message(tag)
                #expect(message.mailbox == Self.sender)
                #expect(message.clientRequestId != nil)
                #expect(!message.wrapped)
                let (trace, rest) = try #require(EndToEndMIME.splitReceived(message.mime), "\(tag)")
                #expect(trace.contains("by \(EndToEnd.hostname) (graph-relay)"))
                let expected = EndToEndMIME.appendingHeaderFields(submitted.data, "Bcc: dave@example.com, erin@example.com\r\n")
                #expect(EndToEndBytes(rest) == EndToEndBytes(expected), "\(tag)")
                // Every envelope recipient is a Graph recipient, as Python's email package reads it.
                let recipients = Set(message.recipients.map { $0.lowercased() })
                #expect(recipients == Set(submitted.to), "\(tag): \(message.to) \(message.cc) \(message.bcc)")
                #expect(message.bcc == ["dave@example.com", "erin@example.com"])
            }
            #expect(standIn.tokenCounts.requests == 1, "\(standIn.output)")
            #expect(standIn.tokenCounts.issued == 1)
            #expect(standIn.output.contains("client assertion verified (alg PS256, x5t#S256 matches") == (kind == .certificate),
                    "\(standIn.output)")
        }
    }

    @Test("the stand-in's assertion check is real: a correctly signed assertion gets a token, the same with a forged signature AADSTS700027")
    func standInChecksSignatures() async throws {
        let standIn = try await Self.startStandIn()
        defer { standIn.stop() }
        let tokenURL = "\(standIn.baseURL)/\(EndToEnd.tenant)/oauth2/v2.0/token"
        func probe(_ mode: String) async throws -> String {
            let result = try await ProcessRunner.run("python3", [
                EndToEnd.fixtures + "/assertion_probe.py", tokenURL, EndToEnd.pki.caCertificate,
                EndToEnd.pki.serverCertificate, EndToEnd.pki.serverKey, EndToEnd.clientID, mode,
            ], timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout
        }
        let signed = try await probe("signed")
        #expect(signed.hasPrefix("200 ") && signed.contains("\"access_token\""), "\(signed)\n\(standIn.output)")
        let forged = try await probe("forged")
        #expect(forged.hasPrefix("401 ") && forged.contains("AADSTS700027") && forged.contains("signature"), "\(forged)")
        #expect(standIn.tokenCounts.issued == 1)
    }

    @Test("the stand-in validates sendMail like Graph: bearer token, text/plain, strict base64, a recipient, 4 MB")
    func standInValidates() async throws {
        let standIn = try await Self.startStandIn()
        defer { standIn.stop() }
        func curl(_ arguments: [String], input: Data? = nil) async throws -> String {
            let result = try await ProcessRunner.run("curl", ["--silent", "--show-error", "--max-time", "20", "--cacert", EndToEnd.pki.caCertificate,
                                                              "--write-out", "\n%{http_code}"] + arguments, input: input, timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout
        }
        let tokenReply = try await curl([
            "\(standIn.baseURL)/\(EndToEnd.tenant)/oauth2/v2.0/token", "--data-urlencode", "client_id=\(EndToEnd.clientID)",
            "--data-urlencode", "client_secret=\(EndToEnd.clientSecret)", "--data-urlencode", "grant_type=client_credentials",
            "--data-urlencode", "scope=https://graph.microsoft.com/.default",
        ])
        let json = try #require(tokenReply.split(separator: "\n").first)
        let token = try #require((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["access_token"] as? String)
        let url = "\(standIn.baseURL)/v1.0/users/alice@contoso.test/sendMail"
        func send(_ body: Data, contentType: String = "text/plain", bearer: String? = token) async throws -> String {
            var arguments = [url, "--header", "Content-Type: \(contentType)", "--data-binary", "@-"]
            if let bearer { arguments += ["--header", "Authorization: Bearer \(bearer)"] }
            return try await curl(arguments, input: body)
        }
        let good = Data("To: bob@example.net\r\nSubject: ok\r\n\r\nok\r\n".utf8).base64EncodedData()
        #expect(try await send(good).hasSuffix("\n202"))
        #expect(try await send(good, bearer: nil).contains("InvalidAuthenticationToken"))
        #expect(try await send(good, bearer: "forged").hasSuffix("\n401"))
        #expect(try await send(good, contentType: "application/json").hasSuffix("\n415"))
        #expect(try await send(Data("not*base64!".utf8)).contains("ErrorMimeContentInvalidBase64String"))
        #expect(try await send(good.dropLast()).contains("ErrorMimeContentInvalidBase64String"))
        let noRecipients = Data("Subject: nobody\r\n\r\nx\r\n".utf8).base64EncodedData()
        #expect(try await send(noRecipients).contains("ErrorInvalidRecipients"))
        let tooLarge = Data(repeating: UInt8(ascii: "A"), count: 4 * 1024 * 1024 + 4)
        #expect(try await send(tooLarge).hasSuffix("\n413"))
        #expect(try standIn.messages().count == 1)
    }

    @Test("certificate credential with a certificate the stand-in does not know: no token, 451 4.7.0")
    func unknownCertificate() async throws {
        let standIn = try await Self.startStandIn(clientCertificate: EndToEnd.pki.expiredCertificate)
        defer { standIn.stop() }
        try await EndToEndRelay.run(Self.setup(.certificate), graphURL: standIn.baseURL) { harness in
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, messages: [Self.message("refused")])
            #expect(results.map(\.status) == ["451 4.7.0"], "\(results)\n\(standIn.output)")
            #expect(try standIn.messages().isEmpty)
            #expect(standIn.tokenCounts.issued == 0)
            #expect(standIn.tokenCounts.requests >= 1)
            #expect(harness.logs.text.contains("700027"))
        }
    }
}
