import COpenSSL
import COpenSSLShims
import Foundation

/// A self-signed ECDSA P-256 certificate made with libcrypto, so the emulator can serve HTTPS
/// without certificate files or the `openssl` tool (the demo, quick experiments). Clients trust it
/// by adding ``certificatePEM`` to their trust roots (the relay's `caFile`).
public struct GraphEmulatorCertificate: Sendable, Hashable {
    public let certificatePEM: String
    public let privateKeyPEM: String

    /// - Parameters:
    ///   - commonName: the subject CN. Default `graph-emulator`.
    ///   - dnsNames: DNS subject alternative names. Default `localhost`.
    ///   - ipAddresses: IP subject alternative names. Default `127.0.0.1`, `::1`.
    ///   - validityDays: from now (backdated one hour for clock skew). Default 30.
    public static func selfSigned(commonName: String = "graph-emulator", dnsNames: [String] = ["localhost"],
                                  ipAddresses: [String] = ["127.0.0.1", "::1"], validityDays: Int = 30) throws -> GraphEmulatorCertificate {
        func failure(_ step: String) -> GraphEmulatorError {
            ERR_clear_error()
            return GraphEmulatorError("cannot create a self-signed certificate: \(step) failed")
        }
        // Key: ECDSA P-256.
        guard let keyContext = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else { throw failure("EVP_PKEY_CTX_new_id") }
        defer { EVP_PKEY_CTX_free(keyContext) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(keyContext) == 1,
              EVP_PKEY_CTX_set_ec_paramgen_curve_nid(keyContext, NID_X9_62_prime256v1) > 0,
              EVP_PKEY_keygen(keyContext, &key) == 1, let key else { throw failure("key generation") }
        defer { EVP_PKEY_free(key) }

        guard let certificate = X509_new() else { throw failure("X509_new") }
        defer { X509_free(certificate) }
        var serial = [UInt8](repeating: 0, count: 8)
        _ = RAND_bytes(&serial, Int32(serial.count))
        let serialNumber = serial.prefix(7).reduce(0) { $0 << 8 | Int($1) }
        guard X509_set_version(certificate, 2) == 1,
              ASN1_INTEGER_set(X509_get_serialNumber(certificate), serialNumber) == 1,
              X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != nil,
              X509_gmtime_adj(X509_getm_notAfter(certificate), validityDays * 86400) != nil,
              X509_set_pubkey(certificate, key) == 1 else { throw failure("certificate fields") }
        guard let name = X509_get_subject_name(certificate),
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1,
              X509_set_issuer_name(certificate, name) == 1 else { throw failure("subject name") }

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, certificate, certificate, nil, nil, 0)
        let alternativeNames = (dnsNames.map { "DNS:\($0)" } + ipAddresses.map { "IP:\($0)" }).joined(separator: ",")
        let extensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:TRUE"),
            (NID_key_usage, "critical,digitalSignature,keyCertSign"),
            (NID_subject_alt_name, alternativeNames),
        ]
        for (nid, value) in extensions where !value.isEmpty {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else { throw failure("extension \(value)") }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(certificate, ext, -1) == 1 else { throw failure("adding extension \(value)") }
        }
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else { throw failure("signing") }

        let certificatePEM = try pem { PEM_write_bio_X509($0, certificate) == 1 }
        let keyPEM = try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) == 1 }
        return GraphEmulatorCertificate(certificatePEM: certificatePEM, privateKeyPEM: keyPEM)
    }

    private static func pem(_ write: (OpaquePointer) -> Bool) throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw GraphEmulatorError("out of memory") }
        defer { BIO_free(bio) }
        guard write(bio) else {
            ERR_clear_error()
            throw GraphEmulatorError("cannot write PEM")
        }
        let pending = grs_BIO_pending(bio)
        var bytes = [UInt8](repeating: 0, count: pending)
        let read = BIO_read(bio, &bytes, Int32(pending))
        return String(decoding: bytes.prefix(Int(max(read, 0))), as: UTF8.self)
    }

    /// Writes the certificate and key to `directory` (`emulator.pem`, `emulator.key`, mode 0600
    /// for the key) and returns their paths.
    public func write(to directory: String) throws -> (certificate: String, privateKey: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = (directory as NSString).appendingPathComponent("emulator.pem")
        let privateKey = (directory as NSString).appendingPathComponent("emulator.key")
        try certificatePEM.write(toFile: certificate, atomically: true, encoding: .utf8)
        try privateKeyPEM.write(toFile: privateKey, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: privateKey)
        return (certificate, privateKey)
    }
}
