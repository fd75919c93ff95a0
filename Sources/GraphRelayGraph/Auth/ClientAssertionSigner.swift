import COpenSSL
import COpenSSLShims
import Foundation
import GraphRelayMIME
import GraphRelayTLS

/// Signs client-assertion JWTs for certificate credentials (Microsoft identity platform
/// "certificate credentials"): header `{"alg":"PS256","typ":"JWT","x5t#S256":…}` where `x5t#S256`
/// is the base64url SHA-256 of the certificate's DER, claims `aud` (the token URL), `iss` = `sub` =
/// client id, `jti` (a fresh UUID), `nbf`, `iat` and `exp` (five minutes later; Entra allows ten).
/// Signed with RSASSA-PSS/SHA-256 (salt length = digest length) via libcrypto.
public struct ClientAssertionSigner: Sendable {
    public let certificate: PEMSource
    public let privateKey: PEMSource
    /// Lifetime of each assertion. Default 5 minutes; at most 10.
    public var lifetime: TimeInterval = 300

    /// Loads and checks the material once (RSA key, matching the certificate, certificate not
    /// expired) so that configuration errors surface at start-up.
    public init(certificate: PEMSource, privateKey: PEMSource) throws(PEMMaterialError) {
        self.certificate = certificate
        self.privateKey = privateKey
        try load().release()
    }

    /// base64url SHA-256 thumbprint of the certificate as it is now on disk.
    public func thumbprintSHA256() throws(PEMMaterialError) -> String {
        let material = try load()
        defer { material.release() }
        return material.thumbprint
    }

    /// A signed assertion for `clientID` addressed to `audience` (the token endpoint URL).
    public func assertion(clientID: String, audience: String, now: Date = Date()) throws(PEMMaterialError) -> String {
        let material = try load()
        defer { material.release() }
        let issued = Int(now.timeIntervalSince1970)
        let header = #"{"alg":"PS256","typ":"JWT","x5t#S256":"\#(material.thumbprint)"}"#
        let claims = "{" + [
            "\"aud\":" + JSONString.quote(audience),
            "\"iss\":" + JSONString.quote(clientID),
            "\"sub\":" + JSONString.quote(clientID),
            "\"jti\":" + JSONString.quote(UUID().uuidString.lowercased()),
            "\"nbf\":\(issued)",
            "\"iat\":\(issued)",
            "\"exp\":\(issued + Int(min(lifetime, 600)))",
        ].joined(separator: ",") + "}"
        let signingInput = Base64.encode(header.utf8, alphabet: .url, padded: false) + "." + Base64.encode(claims.utf8, alphabet: .url, padded: false)
        let signature = try Self.signPS256(Array(signingInput.utf8), key: material.key)
        return signingInput + "." + Base64.encode(signature, alphabet: .url, padded: false)
    }

    /// The loaded key (the caller releases it) and the certificate's thumbprint.
    private struct Material {
        let key: OpaquePointer
        let thumbprint: String
        func release() { EVP_PKEY_free(key) }
    }

    private func load() throws(PEMMaterialError) -> Material {
        let x509: OpaquePointer
        let key: OpaquePointer
        do {
            x509 = try PEMMaterial.certificate(certificate)
        } catch {
            throw PEMMaterialError("certificate: \(error)")
        }
        defer { X509_free(x509) }
        do {
            key = try PEMMaterial.privateKey(privateKey)
        } catch {
            throw PEMMaterialError("private key: \(error)")
        }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            EVP_PKEY_free(key)
            throw PEMMaterialError("private key \(PEMMaterial.name(of: privateKey)) is not an RSA key; Entra certificate credentials need RSA (PS256)")
        }
        guard X509_check_private_key(x509, key) == 1 else {
            ERR_clear_error()
            EVP_PKEY_free(key)
            throw PEMMaterialError("private key \(PEMMaterial.name(of: privateKey)) does not belong to certificate \(PEMMaterial.name(of: certificate))")
        }
        if let notAfter = X509_get0_notAfter(x509), X509_cmp_current_time(notAfter) < 0 {
            EVP_PKEY_free(key)
            throw PEMMaterialError("certificate \(PEMMaterial.name(of: certificate)) has expired; upload a new certificate to the app registration")
        }
        let thumbprint = Base64.encode(PEMMaterial.digest(PEMMaterial.der(of: x509)), alphabet: .url, padded: false)
        return Material(key: key, thumbprint: thumbprint)
    }

    static func signPS256(_ input: [UInt8], key: OpaquePointer) throws(PEMMaterialError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw PEMMaterialError("out of memory") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestSignInit(context, &keyContext, EVP_sha256(), nil, key) == 1,
              EVP_PKEY_CTX_set_rsa_padding(keyContext, grs_RSA_PKCS1_PSS_PADDING) > 0,
              EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, grs_RSA_PSS_SALTLEN_DIGEST) > 0 else {
            ERR_clear_error()
            throw PEMMaterialError("cannot initialise RSA-PSS signing")
        }
        var length = 0
        let ok = input.withUnsafeBufferPointer { data -> Bool in
            guard EVP_DigestSign(context, nil, &length, data.baseAddress, data.count) == 1 else { return false }
            return true
        }
        guard ok else {
            ERR_clear_error()
            throw PEMMaterialError("RSA-PSS signing failed")
        }
        var signature = [UInt8](repeating: 0, count: length)
        let signed = input.withUnsafeBufferPointer { data in
            EVP_DigestSign(context, &signature, &length, data.baseAddress, data.count) == 1
        }
        guard signed else {
            ERR_clear_error()
            throw PEMMaterialError("RSA-PSS signing failed")
        }
        return Array(signature.prefix(length))
    }
}
