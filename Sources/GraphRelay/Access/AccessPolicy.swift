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

    public init(networks: [CIDRBlock], users: [RelayConfiguration.User]) {
        self.networks = networks
        var byName: [String: RelayConfiguration.User] = [:]
        for user in users where byName[user.name] == nil { byName[user.name] = user }
        self.users = byName
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
    /// run it off the event loop. Unknown users cost the same as known ones, so timing does not
    /// reveal which user names exist.
    ///
    /// - Returns: the user when the name exists and the password matches.
    public func authenticate(username: String, password: [UInt8]) -> RelayConfiguration.User? {
        guard let user = users[username] else {
            _ = AccessPolicy.dummyHash?.verify(password)
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
    private static let dummyHash: PasswordHash? = try? PasswordHasher.makeHash(password: Array("graph-relay".utf8))

    /// The text made safe for a one-line ASCII SMTP reply.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.isASCII && $0.value >= 32 && $0.value != 127 ? Character($0) : "?" })
    }
}
