import COpenSSL

/// Who may relay (`access` in the configuration): clients from trusted networks without AUTH,
/// authenticated users for the senders they are allowed.
///
/// Decisions at MAIL FROM:
/// - authenticated session: the user's `allowedSenders` decide (no list = any sender), whatever
///   the client's network; a sender outside the list gets 553 5.7.1;
/// - unauthenticated session from a trusted network: any sender;
/// - anyone else: 530 5.7.0.
public struct AccessPolicy: Sendable {
    public let networks: [CIDRBlock]
    private let users: [String: RelayConfiguration.User]
    /// One hash with random contents for each parameter set the users' hashes use, so a name
    /// that is not configured costs what a configured one costs.
    private let dummyHashes: [PasswordHash]

    public init(networks: [CIDRBlock], users: [RelayConfiguration.User]) {
        self.networks = networks
        var byName: [String: RelayConfiguration.User] = [:]
        for user in users where byName[user.name] == nil { byName[user.name] = user }
        self.users = byName
        var algorithms: [PasswordHash.Algorithm] = []
        for user in users where !algorithms.contains(user.passwordHash.algorithm) { algorithms.append(user.passwordHash.algorithm) }
        if algorithms.isEmpty { algorithms = [.defaultScrypt] }
        self.dummyHashes = algorithms.compactMap { Self.dummyHash($0) }
    }

    public init(_ access: RelayConfiguration.Access) {
        self.init(networks: access.networks, users: access.users)
    }

    /// Whether any user is configured (the SMTP layer offers AUTH only then).
    public var hasUsers: Bool { !users.isEmpty }

    /// The user with this exact name.
    public func user(named name: String) -> RelayConfiguration.User? { users[name] }

    /// The first `access.networks` block containing the client; `nil` if none (or no address,
    /// e.g. a Unix socket).
    public func trustedNetwork(containing client: IPAddress?) -> CIDRBlock? {
        guard let client else { return nil }
        return networks.first { $0.contains(client) }
    }

    /// Checks a password. Slow on purpose (a scrypt/PBKDF2 derivation, about 0.13 s of CPU by default):
    /// run it off the event loop. A name that is not configured is checked against a dummy hash
    /// with the parameters of one of the configured users (the same one for the same name), so
    /// timing does not reveal which user names exist, whatever parameter sets are in use.
    ///
    /// - Returns: the user when the name exists and the password matches.
    public func authenticate(username: String, password: [UInt8]) -> RelayConfiguration.User? {
        guard let user = users[username] else {
            _ = dummyHash(for: username)?.verify(password)
            return nil
        }
        return user.passwordHash.verify(password) ? user : nil
    }

    /// ``authenticate(username:password:)`` with the password's UTF-8 bytes.
    public func authenticate(username: String, password: String) -> RelayConfiguration.User? {
        authenticate(username: username, password: Array(password.utf8))
    }

    /// The access decision at MAIL FROM.
    ///
    /// - Parameters:
    ///   - sender: the envelope sender.
    ///   - client: the client's address (`nil` when unknown).
    ///   - authenticatedUser: the user the session authenticated as, if any.
    public func checkSender(_ sender: EnvelopeSender, client: IPAddress?, authenticatedUser: String?) -> AccessDecision {
        if let authenticatedUser {
            guard let user = users[authenticatedUser] else {
                // The configuration no longer has this user (reloaded): treat as unauthenticated.
                return .denied(.authenticationRequired)
            }
            guard let allowed = user.allowedSenders else {
                return .allowed(.authenticatedUser(user.name))
            }
            if allowed.contains(where: { $0.matches(sender) }) {
                return .allowed(.authenticatedUser(user.name))
            }
            return .denied(PolicyReply(
                code: 553, enhancedCode: "5.7.1",
                text: "Sender address \(sender) not allowed for user \(AccessPolicy.printable(user.name))"
            ))
        }
        if let block = trustedNetwork(containing: client) {
            return .allowed(.trustedNetwork(block))
        }
        return .denied(.authenticationRequired)
    }

    /// A hash to verify against for unknown users (same cost as real ones).
    /// The parameter set of the dummy hash a name that is not configured is checked against (tests).
    func dummyAlgorithm(for username: String) -> PasswordHash.Algorithm? {
        users[username] == nil ? dummyHash(for: username)?.algorithm : nil
    }

    private func dummyHash(for username: String) -> PasswordHash? {
        guard !dummyHashes.isEmpty else { return nil }
        var hasher = Hasher()
        hasher.combine(username)
        return dummyHashes[Int(UInt(bitPattern: hasher.finalize()) % UInt(dummyHashes.count))]
    }

    /// A hash with these parameters and random salt and value: verifying against it costs what a
    /// real one costs, and no password matches it.
    private static func dummyHash(_ algorithm: PasswordHash.Algorithm) -> PasswordHash? {
        var bytes = [UInt8](repeating: 0, count: 48)
        _ = RAND_bytes(&bytes, Int32(bytes.count))
        return try? PasswordHash(algorithm: algorithm, salt: Array(bytes[..<16]), hash: Array(bytes[16...]))
    }

    /// The text made safe for a one-line ASCII SMTP reply.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.isASCII && $0.value >= 32 && $0.value != 127 ? Character($0) : "?" })
    }
}
