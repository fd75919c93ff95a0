/// The outcome of ``AccessPolicy/checkSender(_:client:authenticatedUser:)`` at MAIL FROM.
public enum AccessDecision: Sendable, Hashable, CustomStringConvertible {
    /// Relaying is allowed, and why.
    case allowed(Grant)
    /// Refused with this reply (530 5.7.0 or 553 5.7.1).
    case denied(PolicyReply)

    /// Why relaying is allowed.
    public enum Grant: Sendable, Hashable, CustomStringConvertible {
        /// The client's address is in `access.networks`.
        case trustedNetwork(CIDRBlock)
        /// The session authenticated as this user, who may use the sender.
        case authenticatedUser(String)

        public var description: String {
            switch self {
            case .trustedNetwork(let block): "trusted network \(block)"
            case .authenticatedUser(let name): "authenticated user '\(name)'"
            }
        }
    }

    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .allowed(let grant): "allowed (\(grant))"
        case .denied(let reply): "denied (\(reply))"
        }
    }
}
