import Foundation
import GraphEmulator
import GraphRelayTLS
import GraphRelayGraph
import GraphRelayTestSupport
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// The emulator at the HTTP level, driven by the project's HTTP client: what a request that our
/// GraphClient would never send gets back.
@Suite("Graph emulator HTTP behaviour", .timeLimit(.minutes(1)))
struct GraphEmulatorHTTPTests {
    typealias F = GraphFixture

    func withHTTP<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        let http = try HTTPClient(configuration: F.clientConfiguration().http)
        var configuration = F.clientConfiguration().http
        configuration.tls.additionalTrustRoots = [.file(F.pki.caCertificate)]
        let trusted = try HTTPClient(configuration: configuration)
        await http.shutdown()
        do {
            let result = try await body(trusted)
            await trusted.shutdown()
            return result
        } catch {
            await trusted.shutdown()
            throw error
        }
    }

    func post(_ http: HTTPClient, _ url: String, headers: [(String, String)], body: String) async throws -> HTTPClientResponse {
        try await http.execute(HTTPClientRequest(method: .POST, url: try HTTPURL(url), headers: HTTPHeaders(headers),
                                                 body: .bytes(ByteBuffer(string: body))), logger: F.logger)
    }

    func token(_ http: HTTPClient, _ emulator: GraphEmulator, form: String) async throws -> HTTPClientResponse {
        try await post(http, emulator.baseURL + "/\(F.tenant)/oauth2/v2.0/token",
                       headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
    }

    func json(_ response: HTTPClientResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
    }

    func graphCode(_ response: HTTPClientResponse) -> String? {
        (json(response)["error"] as? [String: Any])?["code"] as? String
    }

    func validToken(_ http: HTTPClient, _ emulator: GraphEmulator) async throws -> String {
        let scope = "https%3A%2F%2Fgraph.microsoft.com%2F.default"
        let response = try await token(http, emulator, form: "client_id=\(F.clientID)&client_secret=\(FormText.escape(F.secret))&grant_type=client_credentials&scope=\(scope)")
        #expect(response.status == .ok)
        let body = json(response)
        #expect(body["token_type"] as? String == "Bearer")
        #expect(body["expires_in"] as? Int == 3599)
        return try #require(body["access_token"] as? String)
    }

    @Test func tokenEndpointShapesErrorsLikeEntra() async throws {
        try await F.withEmulator { emulator in
            try await withHTTP { http in
                let scope = "https%3A%2F%2Fgraph.microsoft.com%2F.default"
                let wrongGrant = try await token(http, emulator, form: "client_id=\(F.clientID)&grant_type=password&scope=\(scope)")
                #expect(wrongGrant.status == .badRequest)
                #expect(json(wrongGrant)["error"] as? String == "unsupported_grant_type")
                #expect(json(wrongGrant)["error_codes"] as? [Int] == [70003])

                let noCredential = try await token(http, emulator, form: "client_id=\(F.clientID)&grant_type=client_credentials&scope=\(scope)")
                #expect(noCredential.status == .unauthorized)
                #expect((json(noCredential)["error_description"] as? String)?.hasPrefix("AADSTS7000218:") == true)

                let getRequest = try await http.execute(HTTPClientRequest(method: .GET, url: try HTTPURL(emulator.baseURL + "/\(F.tenant)/oauth2/v2.0/token")), logger: F.logger)
                #expect(getRequest.status == .methodNotAllowed)
                _ = try await validToken(http, emulator)
                #expect(emulator.tokenRequestCount == 4)
                #expect(emulator.issuedTokenCount == 1)
            }
        }
    }

    @Test func sendMailValidation() async throws {
        try await F.withEmulator { emulator in
            try await withHTTP { http in
                let token = try await validToken(http, emulator)
                let url = emulator.baseURL + "/v1.0/users/\(F.mailbox)/sendMail"
                let mime = "From: \(F.mailbox)\r\nTo: bob@example.com\r\nSubject: wrapped\r\n\r\n" + String(repeating: "line of text\r\n", count: 30)
                let encoded = Data(mime.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
                #expect(encoded.contains("\r\n"))

                let wrapped = try await post(http, url, headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "text/plain")], body: encoded)
                #expect(wrapped.status == .accepted)
                #expect(wrapped.headers.first(name: "request-id") != nil)
                #expect(emulator.acceptedMessages.first?.mimeText == mime)

                let garbage = try await post(http, url, headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "text/plain")], body: "This is not base64!")
                #expect(garbage.status == .badRequest)
                #expect(graphCode(garbage) == "ErrorMimeContentInvalidBase64String")

                let json = try await post(http, url, headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: "{}")
                #expect(json.status == .unsupportedMediaType)

                let anonymous = try await post(http, url, headers: [("Content-Type", "text/plain")], body: encoded)
                #expect(anonymous.status == .unauthorized)
                #expect(graphCode(anonymous) == "InvalidAuthenticationToken")

                let forged = try await post(http, url, headers: [("Authorization", "Bearer forged"), ("Content-Type", "text/plain")], body: encoded)
                #expect(forged.status == .unauthorized)

                let me = try await post(http, emulator.baseURL + "/v1.0/me/sendMail", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "text/plain")], body: encoded)
                #expect(me.status == .badRequest)
                #expect(graphCode(me) == "BadRequest")

                let echoed = try await post(http, url, headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "text/plain"),
                                                                  ("client-request-id", "abc-123")], body: "!!")
                #expect(echoed.headers.first(name: "client-request-id") == "abc-123")
                #expect(emulator.acceptedMessages.count == 1)
            }
        }
    }

    @Test func outboxReceivesEachAcceptedMessage() async throws {
        let outbox = NSTemporaryDirectory() + "graph-outbox-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outbox) }
        try await F.withEmulator({ $0.outboxDirectory = outbox }) { emulator in
            try await F.withClient(F.application(emulator)) { client in
                let message = F.message(subject: "to the outbox")
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(message), logger: F.logger).isAccepted)
                let stored = try #require(emulator.acceptedMessages.first)
                let path = try #require(stored.outboxPath)
                #expect(path.hasPrefix(outbox + "/" + F.mailbox + "/"))
                #expect(path.hasSuffix("-" + stored.requestID.prefix(8) + ".eml"))
                let written = try Data(contentsOf: URL(fileURLWithPath: path))
                #expect(Array(written) == message)
                let files = try FileManager.default.contentsOfDirectory(atPath: outbox + "/" + F.mailbox)
                #expect(files.count == 1)
            }
        }
    }

    @Test func selfSignedCertificateServesHTTPS() async throws {
        let certificate = try SelfSignedCertificate.graphEmulator()
        #expect(certificate.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(certificate.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let directory = NSTemporaryDirectory() + "graph-selfsigned-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let paths = try certificate.write(to: directory)
        let text = try await ProcessRunner.run("openssl", ["x509", "-in", paths.certificate, "-noout", "-text"]).stdout
        #expect(text.contains("DNS:localhost"))
        #expect(text.contains("IP Address:127.0.0.1"))
        try await F.withEmulator({ $0.tls = .server(certificateChain: .pem(certificate.certificatePEM), privateKey: .pem(certificate.privateKeyPEM)) }) { emulator in
            var application = F.application(emulator)
            application.caFile = paths.certificate
            try await F.withClient(application) { client in
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
            }
        }
    }

    @Test func plainHTTPMode() async throws {
        try await F.withEmulator({ $0.tls = nil }) { emulator in
            #expect(emulator.baseURL.hasPrefix("http://127.0.0.1:"))
            var application = F.application(emulator)
            application.caFile = nil
            try await F.withClient(application) { client in
                #expect(await client.sendMail(mailbox: F.mailbox, message: .bytes(F.message()), logger: F.logger).isAccepted)
            }
        }
    }
}
