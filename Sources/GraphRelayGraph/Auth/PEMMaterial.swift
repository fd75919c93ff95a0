import COpenSSL
import Foundation
import GraphRelayTLS

/// Reading certificates and keys from a ``PEMSource`` with libcrypto, for the client assertion.
enum PEMMaterial {
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    static func text(of source: PEMSource) throws -> String {
        switch source {
        case .pem(let text):
            return text
        case .file(let path):
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw LoadError(description: "cannot read \(path): \((error as NSError).localizedDescription)")
            }
        }
    }

    static func name(of source: PEMSource) -> String {
        switch source {
        case .file(let path): path
        case .pem: "inline PEM"
        }
    }

    /// Runs `body` with a memory BIO holding the PEM text.
    static func withBIO<T>(_ text: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let bio = PEMReader.memoryBIO(text) else { throw LoadError(description: "cannot buffer \(text.utf8.count) bytes of PEM") }
        defer { BIO_free(bio) }
        return try body(bio)
    }

    /// The first certificate in `source`; the caller frees it with `X509_free`.
    static func certificate(_ source: PEMSource) throws -> OpaquePointer {
        let text = try text(of: source)
        return try withBIO(text) { bio in
            guard let certificate = PEMReader.certificate(bio) else {
                ERR_clear_error()
                throw LoadError(description: "no PEM certificate in \(name(of: source))")
            }
            return certificate
        }
    }

    /// The private key in `source`; the caller frees it with `EVP_PKEY_free`.
    static func privateKey(_ source: PEMSource) throws -> OpaquePointer {
        let text = try text(of: source)
        return try withBIO(text) { bio in
            guard let key = PEMReader.privateKey(bio) else {
                ERR_clear_error()
                throw LoadError(description: "no unencrypted PEM private key in \(name(of: source))")
            }
            return key
        }
    }

    /// The DER encoding of a certificate.
    static func der(of certificate: OpaquePointer) -> [UInt8] {
        let length = i2d_X509(certificate, nil)
        guard length > 0 else { return [] }
        var der = [UInt8](repeating: 0, count: Int(length))
        der.withUnsafeMutableBufferPointer { buffer in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_X509(certificate, &pointer)
        }
        return der
    }

    static func digest(_ bytes: [UInt8], sha256: Bool = true) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let md = sha256 ? EVP_sha256() : EVP_sha1()
        _ = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &out, &length, md, nil)
        }
        return Array(out.prefix(Int(length)))
    }
}
