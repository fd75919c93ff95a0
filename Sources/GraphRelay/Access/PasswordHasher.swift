import COpenSSL

/// Creates password hashes for `access.users[].passwordHash` (the `graph-relay hash-password`
/// command) and derives keys for ``PasswordHash/verify(_:)-(String)``.
public enum PasswordHasher {
    /// A new PHC-style hash of `password` with a random 16-byte salt.
    ///
    /// - Parameter algorithm: default ``PasswordHash/Algorithm/defaultScrypt``.
    public static func hash(
        password: String,
        algorithm: PasswordHash.Algorithm = .defaultScrypt
    ) throws(PasswordHashError) -> String {
        try makeHash(password: Array(password.utf8), algorithm: algorithm).encoded
    }

    /// A new hash of the password bytes with a random 16-byte salt.
    public static func makeHash(
        password: [UInt8],
        algorithm: PasswordHash.Algorithm = .defaultScrypt
    ) throws(PasswordHashError) -> PasswordHash {
        try algorithm.validate()
        var salt = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&salt, Int32(salt.count)) == 1 else {
            throw .cryptoFailure("RAND_bytes failed: \(openSSLErrorReason())")
        }
        let derived = try derive(password: password, salt: salt, algorithm: algorithm, length: 32)
        return try PasswordHash(algorithm: algorithm, salt: salt, hash: derived)
    }

    /// The password as typed on standard input: the bytes without one trailing `\n` or `\r\n`.
    /// Returns `nil` when nothing but a line ending was given.
    public static func password(fromStandardInput data: [UInt8]) -> String? {
        var bytes = data[...]
        if bytes.last == UInt8(ascii: "\n") { bytes = bytes.dropLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        guard !bytes.isEmpty else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func derive(
        password: [UInt8],
        salt: [UInt8],
        algorithm: PasswordHash.Algorithm,
        length: Int
    ) throws(PasswordHashError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: length)
        let status: Int32
        switch algorithm {
        case .scrypt(let logN, let r, let p):
            let n = UInt64(1) << UInt64(logN)
            // OpenSSL needs 128·r·(N + p + 2) bytes; allow a little more.
            let maximumMemory = UInt64(128 * r) * (n + UInt64(p) + 2) + (1 << 20)
            status = password.withUnsafeBufferPointer { passwordBuffer in
                passwordBuffer.withMemoryRebound(to: CChar.self) { passwordChars in
                    EVP_PBE_scrypt(
                        passwordChars.baseAddress, passwordChars.count,
                        salt, salt.count, n, UInt64(r), UInt64(p), maximumMemory,
                        &output, output.count
                    )
                }
            }
        case .pbkdf2SHA256(let iterations):
            status = password.withUnsafeBufferPointer { passwordBuffer in
                passwordBuffer.withMemoryRebound(to: CChar.self) { passwordChars in
                    PKCS5_PBKDF2_HMAC(
                        passwordChars.baseAddress, Int32(passwordChars.count),
                        salt, Int32(salt.count), Int32(iterations), EVP_sha256(),
                        Int32(output.count), &output
                    )
                }
            }
        }
        guard status == 1 else {
            throw .cryptoFailure("\(algorithm): \(openSSLErrorReason())")
        }
        return output
    }

    private static func openSSLErrorReason() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? "unknown error" : reasons.joined(separator: "; ")
    }
}
