import COpenSSL
import COpenSSLShims
import Foundation
import GraphRelayMIME
import GraphRelayTLS

/// Verifies client-assertion JWTs the way Entra ID does for certificate credentials: the header
/// names the certificate by thumbprint (`x5t#S256`, or `x5t` = SHA-1), the signature (PS256 or
/// RS256) must verify with that certificate's public key, and the claims must match.
struct ClientAssertionVerifier {
    /// A registered certificate: its thumbprints and public key.
    final class Certificate: @unchecked Sendable {
        let sha256Thumbprint: String
        let sha1Thumbprint: String
        let publicKey: OpaquePointer

        init(pem: String) throws {
            guard let bio = PEMReader.memoryBIO(pem) else { throw VerificationError("cannot buffer the registered certificate") }
            defer { BIO_free(bio) }
            guard let x509 = PEMReader.certificate(bio) else {
                ERR_clear_error()
                throw VerificationError("registered certificate is not PEM")
            }
            defer { X509_free(x509) }
            let length = i2d_X509(x509, nil)
            var der = [UInt8](repeating: 0, count: Int(max(length, 0)))
            der.withUnsafeMutableBufferPointer { buffer in
                var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
                _ = i2d_X509(x509, &pointer)
            }
            sha256Thumbprint = Base64.encode(Self.digest(der, EVP_sha256()), alphabet: .url, padded: false)
            sha1Thumbprint = Base64.encode(Self.digest(der, EVP_sha1()), alphabet: .url, padded: false)
            guard let key = X509_get_pubkey(x509) else { throw VerificationError("certificate has no public key") }
            publicKey = key
        }

        deinit {
            EVP_PKEY_free(publicKey)
        }

        static func digest(_ bytes: [UInt8], _ md: OpaquePointer?) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var length: UInt32 = 0
            _ = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &out, &length, md, nil) }
            return Array(out.prefix(Int(length)))
        }
    }

    struct VerificationError: Error, CustomStringConvertible {
        var description: String
        /// The AADSTS code Entra would answer with.
        var code: Int

        init(_ description: String, code: Int = 700027) {
            self.description = description
            self.code = code
        }
    }

    struct Claims {
        var issuer: String
        var subject: String
        var audience: String
        var jwtID: String?
    }

    /// Verifies `assertion` against `certificates` and returns its claims.
    ///
    /// - Parameters:
    ///   - audience: the token URL the assertion must be addressed to.
    ///   - clientID: `iss` and `sub` must equal it.
    static func verify(_ assertion: String, certificates: [Certificate], audience: String, clientID: String,
                       now: Date, clockSkew: Int) throws(VerificationError) -> Claims {
        let parts = assertion.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64.decode(parts[0], alphabet: .url), let claimBytes = Base64.decode(parts[1], alphabet: .url),
              let signature = Base64.decode(parts[2], alphabet: .url) else {
            throw VerificationError("Client assertion is not a valid JWT (expected three base64url parts).", code: 50027)
        }
        guard let header = (try? JSONSerialization.jsonObject(with: Data(headerBytes))) as? [String: Any],
              let claims = (try? JSONSerialization.jsonObject(with: Data(claimBytes))) as? [String: Any] else {
            throw VerificationError("Client assertion header or payload is not JSON.", code: 50027)
        }
        let algorithm = header["alg"] as? String ?? ""
        guard algorithm == "PS256" || algorithm == "RS256" else {
            throw VerificationError("Client assertion uses unsupported algorithm '\(algorithm)'; PS256 or RS256 expected.")
        }
        let certificate: Certificate
        if let thumbprint = header["x5t#S256"] as? String {
            guard let match = certificates.first(where: { $0.sha256Thumbprint == thumbprint }) else {
                throw VerificationError("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '\(thumbprint)']")
            }
            certificate = match
        } else if let thumbprint = header["x5t"] as? String {
            guard let match = certificates.first(where: { $0.sha1Thumbprint == thumbprint }) else {
                throw VerificationError("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '\(thumbprint)']")
            }
            certificate = match
        } else {
            throw VerificationError("Client assertion header has neither x5t#S256 nor x5t.")
        }
        let signingInput = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        guard verifySignature(signingInput, signature: signature, key: certificate.publicKey, pss: algorithm == "PS256") else {
            throw VerificationError("Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]")
        }

        let issuer = claims["iss"] as? String ?? ""
        let subject = claims["sub"] as? String ?? ""
        let audienceClaim = (claims["aud"] as? String) ?? ((claims["aud"] as? [String])?.first ?? "")
        guard issuer == clientID, subject == clientID else {
            throw VerificationError("Client assertion iss '\(issuer)' and sub '\(subject)' must both be the client id '\(clientID)'.", code: 700023)
        }
        guard audienceClaim == audience else {
            throw VerificationError("Client assertion audience '\(audienceClaim)' does not match the token endpoint '\(audience)'.", code: 700023)
        }
        let nowSeconds = Int(now.timeIntervalSince1970)
        guard let exp = intClaim(claims["exp"]) else {
            throw VerificationError("Client assertion has no exp claim.", code: 700024)
        }
        let nbf = intClaim(claims["nbf"]) ?? intClaim(claims["iat"]) ?? nowSeconds
        guard exp + clockSkew >= nowSeconds, nbf - clockSkew <= nowSeconds else {
            throw VerificationError("Client assertion is not within its valid time range. Current time: \(nowSeconds), assertion valid from \(nbf), expiry time of assertion \(exp).", code: 700024)
        }
        guard exp - nbf <= 600 + 60 else {
            throw VerificationError("Client assertion lifetime of \(exp - nbf) s is longer than 10 minutes.", code: 700024)
        }
        return Claims(issuer: issuer, subject: subject, audience: audienceClaim, jwtID: claims["jti"] as? String)
    }

    private static func intClaim(_ value: Any?) -> Int? {
        if let value = value as? Int { return value }
        if let value = value as? Double { return Int(value) }
        if let value = value as? NSNumber { return value.intValue }
        return nil
    }

    static func verifySignature(_ input: [UInt8], signature: [UInt8], key: OpaquePointer, pss: Bool) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, EVP_sha256(), nil, key) == 1 else {
            ERR_clear_error()
            return false
        }
        if pss {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, grs_RSA_PKCS1_PSS_PADDING) > 0,
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, grs_RSA_PSS_SALTLEN_DIGEST) > 0 else {
                ERR_clear_error()
                return false
            }
        }
        let result = input.withUnsafeBufferPointer { data in
            signature.withUnsafeBufferPointer { sig in
                EVP_DigestVerify(context, sig.baseAddress, sig.count, data.baseAddress, data.count)
            }
        }
        ERR_clear_error()
        return result == 1
    }
}
