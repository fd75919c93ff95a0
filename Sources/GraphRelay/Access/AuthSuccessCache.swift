import COpenSSL
import NIOCore

/// Remembers successful password checks for a while, so a device that logs in for every message
/// pays for one scrypt per ``lifetime`` rather than one per message.
///
/// An entry is the user name and HMAC-SHA256 of the password under a key drawn at random when the
/// cache is made: neither the password nor anything that could be checked offline without that
/// key is kept, and the key never leaves the process. One entry per user (the last password that
/// was verified), so the cache holds at most as many entries as there are configured users. A new
/// cache (a new configuration) starts empty.
struct AuthSuccessCache {
    /// How long a verified password is trusted without a new check; zero turns the cache off.
    let lifetime: TimeAmount
    private let key: [UInt8]
    private var entries: [String: (mac: [UInt8], expires: NIODeadline)] = [:]

    init(lifetime: TimeAmount) {
        var key = [UInt8](repeating: 0, count: 32)
        // Without randomness there is no safe key: the cache stays off.
        let random = RAND_bytes(&key, Int32(key.count)) == 1
        self.lifetime = random ? lifetime : .zero
        self.key = key
    }

    /// The keyed MAC of a user name and password (what an entry holds).
    func mac(user: String, password: String) -> [UInt8] {
        var message = Array(user.utf8)
        message.append(0)
        message += password.utf8
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard HMAC(EVP_sha256(), key, Int32(key.count), message, message.count, &output, &length) != nil else { return [] }
        return Array(output.prefix(Int(length)))
    }

    /// Whether `user` was verified with the password behind `mac` within the lifetime.
    func contains(user: String, mac: [UInt8], now: NIODeadline) -> Bool {
        guard lifetime > .zero, !mac.isEmpty, let entry = entries[user], now < entry.expires else { return false }
        return entry.mac.count == mac.count && entry.mac.withUnsafeBytes { lhs in
            mac.withUnsafeBytes { rhs in CRYPTO_memcmp(lhs.baseAddress, rhs.baseAddress, mac.count) == 0 }
        }
    }

    /// Records a successful check.
    mutating func insert(user: String, mac: [UInt8], now: NIODeadline) {
        guard lifetime > .zero, !mac.isEmpty else { return }
        entries[user] = (mac, now + lifetime)
    }

    /// Forgets every entry.
    mutating func removeAll() { entries.removeAll() }

    var count: Int { entries.count }
}
