import COpenSSL
import GraphRelayMIME

/// A salted slow password hash in a self-describing PHC-style string.
///
/// Two algorithms, both computed by libcrypto:
/// - `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (the default; `ln` is log2 of N), and
/// - `$pbkdf2-sha256$i=600000$<salt>$<hash>` (for FIPS deployments where scrypt is unavailable).
///
/// Salt and hash use the standard base64 alphabet without padding, as in the PHC string format.
/// Verification compares in constant time (`CRYPTO_memcmp`). Verifying costs what hashing costs
/// (about 0.13 s of CPU and 32 MiB for the defaults): call it off the event loop.
public struct PasswordHash: Sendable, Hashable, CustomStringConvertible {
    /// The key-derivation function and its cost parameters.
    public enum Algorithm: Sendable, Hashable, CustomStringConvertible {
        /// scrypt with N = 2^logN, block size r and parallelism p.
        case scrypt(logN: Int, r: Int, p: Int)
        /// PBKDF2-HMAC-SHA256 with the given iteration count.
        case pbkdf2SHA256(iterations: Int)

        /// scrypt ln=15 (N = 32768), r=8, p=1: 32 MiB and about 0.13 s of one core per
        /// verification — the interactive-login setting, chosen because devices authenticate
        /// for every message. Raise it (e.g. ln=17) with `hash-password` if logins are rare.
        public static let defaultScrypt = Algorithm.scrypt(logN: 15, r: 8, p: 1)
        /// PBKDF2-HMAC-SHA256 with 600,000 iterations (OWASP's recommendation).
        public static let defaultPBKDF2 = Algorithm.pbkdf2SHA256(iterations: 600_000)

        public var description: String {
            switch self {
            case .scrypt(let logN, let r, let p): "scrypt(ln=\(logN),r=\(r),p=\(p))"
            case .pbkdf2SHA256(let iterations): "pbkdf2-sha256(i=\(iterations))"
            }
        }

        /// Checks the parameters are within the bounds graph-relay accepts (so a configuration
        /// cannot ask for gigabytes of memory per login).
        func validate() throws(PasswordHashError) {
            switch self {
            case .scrypt(let logN, let r, let p):
                guard (1...20).contains(logN) else { throw .invalidParameters("scrypt ln must be 1–20, got \(logN)") }
                guard (1...32).contains(r) else { throw .invalidParameters("scrypt r must be 1–32, got \(r)") }
                guard (1...16).contains(p) else { throw .invalidParameters("scrypt p must be 1–16, got \(p)") }
                guard 128 * r * (1 << logN) <= 1 << 30 else {
                    throw .invalidParameters("scrypt ln=\(logN),r=\(r) needs more than 1 GiB of memory")
                }
            case .pbkdf2SHA256(let iterations):
                guard (1_000...100_000_000).contains(iterations) else {
                    throw .invalidParameters("pbkdf2-sha256 iterations must be 1000–100000000, got \(iterations)")
                }
            }
        }
    }

    /// Why these parameters are too cheap to protect a password whose hash leaks, or nil when
    /// they are strong enough: scrypt needs at least 16 MiB (ln=14 with r=8), PBKDF2-SHA256 at
    /// least 100,000 iterations. Configurations refuse weaker hashes.
    public var weakness: String? {
        switch algorithm {
        case .scrypt(let logN, let r, _):
            let memory = 128 * r * (1 << logN)
            guard memory < 16 << 20 else { return nil }
            return "scrypt ln=\(logN),r=\(r) uses \(memory / 1024) KiB per check, below the minimum of 16384 KiB (ln=14 with r=8)"
        case .pbkdf2SHA256(let iterations):
            guard iterations < 100_000 else { return nil }
            return "pbkdf2-sha256 with \(iterations) iterations is below the minimum of 100000"
        }
    }

    public let algorithm: Algorithm
    public let salt: [UInt8]
    public let hash: [UInt8]

    /// Parses a PHC-style string produced by ``PasswordHasher/hash(password:algorithm:)``.
    public init(parsing text: String) throws(PasswordHashError) {
        let trimmed = text.trimmingASCIIWhitespace()
        let parts = trimmed.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty else {
            throw .malformed("expected $scrypt$ln=…,r=…,p=…$salt$hash or $pbkdf2-sha256$i=…$salt$hash")
        }
        let algorithm: Algorithm
        let parameters = PasswordHash.parameters(parts[2])
        switch parts[1] {
        case "scrypt":
            guard let parameters, let logN = parameters["ln"], let r = parameters["r"], let p = parameters["p"],
                  parameters.count == 3
            else { throw .malformed("scrypt parameters must be ln=…,r=…,p=…") }
            algorithm = .scrypt(logN: logN, r: r, p: p)
        case "pbkdf2-sha256":
            guard let parameters, let iterations = parameters["i"], parameters.count == 1 else {
                throw .malformed("pbkdf2-sha256 parameters must be i=…")
            }
            algorithm = .pbkdf2SHA256(iterations: iterations)
        default:
            throw .unsupportedAlgorithm(String(parts[1]))
        }
        try algorithm.validate()
        guard let salt = Base64.decode(parts[3]), (8...64).contains(salt.count) else {
            throw .malformed("the salt is not 8–64 bytes of unpadded base64")
        }
        guard let hash = Base64.decode(parts[4]), (16...64).contains(hash.count) else {
            throw .malformed("the hash is not 16–64 bytes of unpadded base64")
        }
        self.algorithm = algorithm
        self.salt = salt
        self.hash = hash
    }

    /// A hash from its parts (validated like a parsed string).
    public init(algorithm: Algorithm, salt: [UInt8], hash: [UInt8]) throws(PasswordHashError) {
        try algorithm.validate()
        guard (8...64).contains(salt.count) else { throw .malformed("the salt must be 8–64 bytes") }
        guard (16...64).contains(hash.count) else { throw .malformed("the hash must be 16–64 bytes") }
        self.algorithm = algorithm
        self.salt = salt
        self.hash = hash
    }

    /// The PHC-style string.
    public var encoded: String {
        let head: String
        switch algorithm {
        case .scrypt(let logN, let r, let p): head = "$scrypt$ln=\(logN),r=\(r),p=\(p)"
        case .pbkdf2SHA256(let iterations): head = "$pbkdf2-sha256$i=\(iterations)"
        }
        return "\(head)$\(Base64.encode(salt, padded: false))$\(Base64.encode(hash, padded: false))"
    }

    /// The encoded string. (A password hash is not a secret in itself, but it is never logged by
    /// graph-relay either.)
    public var description: String { encoded }

    /// Whether `password` (its UTF-8 bytes) matches. Slow by design; constant-time comparison.
    public func verify(_ password: String) -> Bool {
        verify(Array(password.utf8))
    }

    /// Whether the password bytes match. Slow by design; constant-time comparison.
    public func verify(_ password: [UInt8]) -> Bool {
        guard let derived = try? PasswordHasher.derive(
            password: password, salt: salt, algorithm: algorithm, length: hash.count
        ) else { return false }
        return derived.withUnsafeBytes { lhs in
            hash.withUnsafeBytes { rhs in CRYPTO_memcmp(lhs.baseAddress, rhs.baseAddress, hash.count) == 0 }
        }
    }

    private static func parameters(_ text: Substring) -> [String: Int]? {
        var result: [String: Int] = [:]
        for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
            let keyValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard keyValue.count == 2, !keyValue[1].isEmpty, keyValue[1].count <= 10,
                  keyValue[1].allSatisfy(\.isASCIIDigit), let value = Int(keyValue[1]),
                  result[String(keyValue[0])] == nil
            else { return nil }
            result[String(keyValue[0])] = value
        }
        return result
    }
}

/// Why a password hash string was refused or could not be computed.
public enum PasswordHashError: Error, Sendable, Hashable, CustomStringConvertible {
    case malformed(String)
    case unsupportedAlgorithm(String)
    case invalidParameters(String)
    /// libcrypto failed (e.g. scrypt not available under a FIPS provider); OpenSSL's reason.
    case cryptoFailure(String)

    public var description: String {
        switch self {
        case .malformed(let detail): "not a graph-relay password hash: \(detail)"
        case .unsupportedAlgorithm(let name):
            "unsupported password hash algorithm '\(name)' (supported: scrypt, pbkdf2-sha256)"
        case .invalidParameters(let detail): "invalid password hash parameters: \(detail)"
        case .cryptoFailure(let detail): "password hashing failed in libcrypto: \(detail)"
        }
    }
}
