import COpenSSL
import COpenSSLShims

/// A throwaway self-signed certificate (ECDSA P-256, SHA-256) made with libcrypto, for development
/// listeners such as the embedded Graph emulator of `make run`. Never for production listeners:
/// nothing trusts it but a client told to.
public struct SelfSignedCertificate: Sendable, Hashable {
    /// The certificate, PEM.
    public var certificatePEM: String
    /// Its private key, PEM (PKCS#8).
    public var privateKeyPEM: String

    /// - Parameters:
    ///   - commonName: subject and issuer CN.
    ///   - subjectAlternativeNames: OpenSSL syntax, e.g. `["DNS:localhost", "IP:127.0.0.1"]`.
    ///   - days: validity from one hour ago.
    public static func generate(
        commonName: String = "localhost",
        subjectAlternativeNames: [String] = ["DNS:localhost", "IP:127.0.0.1"],
        days: Int = 30
    ) throws -> SelfSignedCertificate {
        func failure(_ step: String) -> TLSError {
            TLSError(.configuration, reasons: ["self-signed certificate: \(step) failed"] + OpenSSLErrorQueue.drain())
        }
        OpenSSLErrorQueue.clear()

        // Key pair.
        guard let keyContext = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw failure("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(keyContext) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(keyContext) == 1,
              EVP_PKEY_CTX_set_group_name(keyContext, "P-256") == 1,
              EVP_PKEY_generate(keyContext, &key) == 1, let key
        else { throw failure("key generation") }
        defer { EVP_PKEY_free(key) }

        // Certificate.
        guard let certificate = X509_new() else { throw failure("X509_new") }
        defer { X509_free(certificate) }
        var serial = [UInt8](repeating: 0, count: 8)
        guard RAND_bytes(&serial, Int32(serial.count)) == 1 else { throw failure("RAND_bytes") }
        let serialNumber = serial.reduce(0) { ($0 << 8) | Int($1) } & 0x7fff_ffff_ffff
        guard X509_set_version(certificate, 2) == 1,
              ASN1_INTEGER_set(X509_get_serialNumber(certificate), serialNumber) == 1,
              X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != nil,
              X509_gmtime_adj(X509_getm_notAfter(certificate), days * 86400) != nil,
              X509_set_pubkey(certificate, key) == 1
        else { throw failure("certificate fields") }
        guard let name = X509_get_subject_name(certificate),
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1,
              X509_set_issuer_name(certificate, name) == 1
        else { throw failure("certificate name") }

        var extensionContext = X509V3_CTX()
        X509V3_set_ctx(&extensionContext, certificate, certificate, nil, nil, 0)
        for (nid, value) in [(NID_basic_constraints, "critical,CA:FALSE"),
                             (NID_subject_alt_name, subjectAlternativeNames.joined(separator: ","))] {
            guard !value.isEmpty else { continue }
            guard let ext = X509V3_EXT_conf_nid(nil, &extensionContext, nid, value) else { throw failure("extension \(value)") }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(certificate, ext, -1) == 1 else { throw failure("X509_add_ext") }
        }
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else { throw failure("X509_sign") }

        return SelfSignedCertificate(
            certificatePEM: try pem { PEM_write_bio_X509($0, certificate) },
            privateKeyPEM: try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
        )
    }

    private static func pem(_ write: (OpaquePointer) -> Int32) throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw TLSError(.configuration, reasons: ["BIO_new failed"]) }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw TLSError(.configuration, reasons: ["PEM encoding failed"] + OpenSSLErrorQueue.drain()) }
        var bytes = [UInt8](repeating: 0, count: grs_BIO_pending(bio))
        let count = BIO_read(bio, &bytes, Int32(bytes.count))
        return String(decoding: bytes.prefix(max(Int(count), 0)), as: UTF8.self)
    }
}
