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

/// Standard-alphabet base64 without padding (PHC string format).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encodeUnpadded(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 4 / 3 + 3)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(alphabet[Int(chunk >> 6 & 63)])
            out.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        let remaining = bytes.count - index
        if remaining == 1 {
            let chunk = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
        } else if remaining == 2 {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(alphabet[Int(chunk >> 6 & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes standard base64 with or without `=` padding; `nil` on any invalid character or length.
    static func decode<S: StringProtocol>(unpadded text: S) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        var sawPadding = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "=") { sawPadding = true; continue }
            guard !sawPadding, let value = value(of: byte) else { return nil }
            values.append(value)
        }
        return decode(sextets: values)
    }

    static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }

    static func decode(sextets values: [UInt8]) -> [UInt8]? {
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index + 4 <= values.count {
            let chunk = UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12
                | UInt32(values[index + 2]) << 6 | UInt32(values[index + 3])
            out.append(UInt8(chunk >> 16 & 0xFF))
            out.append(UInt8(chunk >> 8 & 0xFF))
            out.append(UInt8(chunk & 0xFF))
            index += 4
        }
        let remaining = values.count - index
        if remaining == 2 {
            let chunk = UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12
            out.append(UInt8(chunk >> 16 & 0xFF))
        } else if remaining == 3 {
            let chunk = UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12 | UInt32(values[index + 2]) << 6
            out.append(UInt8(chunk >> 16 & 0xFF))
            out.append(UInt8(chunk >> 8 & 0xFF))
        }
        return out
    }
}
