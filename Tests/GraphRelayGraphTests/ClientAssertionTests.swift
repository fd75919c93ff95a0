import Foundation
import GraphRelayMIME
import GraphRelayTestSupport
import GraphRelayTLS
import Testing
@testable import GraphEmulator
@testable import GraphRelayGraph

@Suite("Client assertion (PS256 JWT)")
struct ClientAssertionTests {
    let pki = TestPKI.shared
    let audience = "https://login.example/contoso/oauth2/v2.0/token"

    func registered() throws -> ClientAssertionVerifier.Certificate {
        try ClientAssertionVerifier.Certificate(pem: String(contentsOfFile: pki.serverCertificate, encoding: .utf8))
    }

    @Test func assertionHasEntraShapeAndVerifies() throws {
        let signer = try ClientAssertionSigner(certificate: .file(pki.serverCertificate), privateKey: .file(pki.serverKey))
        let now = Date()
        let jwt = try signer.assertion(clientID: "client-1", audience: audience, now: now)
        let parts = jwt.split(separator: ".")
        #expect(parts.count == 3)
        let headerBytes = try #require(Base64.decode(parts[0], alphabet: .url))
        let claimBytes = try #require(Base64.decode(parts[1], alphabet: .url))
        let header = try #require(try JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any])
        let claims = try #require(try JSONSerialization.jsonObject(with: Data(claimBytes)) as? [String: Any])
        #expect(header["alg"] as? String == "PS256")
        #expect(header["typ"] as? String == "JWT")
        // x5t#S256 = base64url(SHA-256(DER)), computed independently with the openssl tool.
        let der = try ProcessRunner.run("openssl", ["x509", "-in", pki.serverCertificate, "-outform", "DER"]).stdoutData
        let digest = try ProcessRunner.run("openssl", ["dgst", "-sha256", "-binary"], input: der).stdoutData
        #expect(header["x5t#S256"] as? String == Base64.encode(Array(digest), alphabet: .url, padded: false))
        #expect(claims["aud"] as? String == audience)
        #expect(claims["iss"] as? String == "client-1")
        #expect(claims["sub"] as? String == "client-1")
        #expect(UUID(uuidString: claims["jti"] as? String ?? "") != nil)
        let iat = try #require(claims["iat"] as? Int)
        let nbf = try #require(claims["nbf"] as? Int)
        let exp = try #require(claims["exp"] as? Int)
        #expect(iat == Int(now.timeIntervalSince1970))
        #expect(nbf == iat)
        #expect(exp > iat && exp - iat <= 600)

        let verified = try ClientAssertionVerifier.verify(jwt, certificates: [registered()], audience: audience,
                                                          clientID: "client-1", now: now, clockSkew: 0)
        #expect(verified.jwtID == claims["jti"] as? String)
    }

    @Test func signatureVerifiesWithOpenSSLTool() throws {
        let signer = try ClientAssertionSigner(certificate: .file(pki.serverCertificate), privateKey: .file(pki.serverKey))
        let jwt = try signer.assertion(clientID: "c", audience: audience)
        let parts = jwt.split(separator: ".")
        let directory = NSTemporaryDirectory() + "graph-jwt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data((parts[0] + "." + parts[1]).utf8).write(to: URL(fileURLWithPath: directory + "/input"))
        let signature = try #require(Base64.decode(parts[2], alphabet: .url))
        try Data(signature).write(to: URL(fileURLWithPath: directory + "/sig"))
        let publicKey = try ProcessRunner.run("openssl", ["x509", "-in", pki.serverCertificate, "-pubkey", "-noout"]).stdout
        try publicKey.write(toFile: directory + "/pub.pem", atomically: true, encoding: .utf8)
        let result = try ProcessRunner.run("openssl", ["dgst", "-sha256", "-verify", directory + "/pub.pem",
                                                       "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
                                                       "-signature", directory + "/sig", directory + "/input"])
        #expect(result.stdout.contains("Verified OK"), "\(result.stdout) \(result.stderr)")
    }

    @Test func verifierRejectsTampering() throws {
        let signer = try ClientAssertionSigner(certificate: .file(pki.serverCertificate), privateKey: .file(pki.serverKey))
        let jwt = try signer.assertion(clientID: "client-1", audience: audience)
        let certificate = try registered()
        func reason(_ token: String, audience: String? = nil, client: String = "client-1", now: Date = Date()) -> String {
            do {
                _ = try ClientAssertionVerifier.verify(token, certificates: [certificate], audience: audience ?? self.audience,
                                                       clientID: client, now: now, clockSkew: 60)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(reason(jwt) == "accepted")
        #expect(reason(jwt, audience: "https://login.example/other/oauth2/v2.0/token").contains("audience"))
        #expect(reason(jwt, client: "client-2").contains("must both be the client id"))
        #expect(reason(jwt, now: Date().addingTimeInterval(3600)).contains("not within its valid time range"))
        var parts = jwt.split(separator: ".").map(String.init)
        parts[1] = Base64.encode(Array(#"{"aud":"x","iss":"client-1","sub":"client-1","exp":9999999999}"#.utf8), alphabet: .url, padded: false)
        #expect(reason(parts.joined(separator: ".")).contains("did not match the expected signature"))
        #expect(reason("not-a-jwt").contains("not a valid JWT"))
    }

    @Test func unknownCertificateIsReportedByThumbprint() throws {
        let other = try pki.issueServerCertificate(name: "graph-assertion-other")
        let signer = try ClientAssertionSigner(certificate: .file(other.certificate), privateKey: .file(other.key))
        let jwt = try signer.assertion(clientID: "c", audience: audience)
        #expect {
            try ClientAssertionVerifier.verify(jwt, certificates: [registered()], audience: audience, clientID: "c", now: Date(), clockSkew: 60)
        } throws: { error in
            "\(error)".contains("The key was not found") && "\(error)".contains((try? signer.thumbprintSHA256()) ?? "?")
        }
    }

    @Test func signerRefusesUnusableMaterial() throws {
        #expect(throws: PEMMaterialError.self) {
            try ClientAssertionSigner(certificate: .file(pki.serverCertificate), privateKey: .file(pki.ecServerKey))
        }
        #expect {
            try ClientAssertionSigner(certificate: .file(pki.serverCertificate), privateKey: .file(pki.expiredKey))
        } throws: { error in "\(error)".contains("does not belong to certificate") }
        #expect {
            try ClientAssertionSigner(certificate: .file(pki.expiredCertificate), privateKey: .file(pki.expiredKey))
        } throws: { error in "\(error)".contains("has expired") }
        #expect {
            try ClientAssertionSigner(certificate: .file("/nonexistent/cert.pem"), privateKey: .file(pki.serverKey))
        } throws: { error in "\(error)".contains("/nonexistent/cert.pem") }
        #expect {
            try ClientAssertionSigner(certificate: .file(pki.serverCertificate), privateKey: .file(pki.encryptedServerKey))
        } throws: { error in "\(error)".contains("no unencrypted PEM private key in \(pki.encryptedServerKey)") }
    }
}
