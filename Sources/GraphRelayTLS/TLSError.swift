/// A TLS failure, with OpenSSL's drained error queue in readable form and which side and peer it
/// concerns, e.g. `TLS handshake failed (client, peer graph.example:443): certificate verify failed:
/// unable to get local issuer certificate`.
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The configuration cannot be turned into a context (bad file, key mismatch, bad cipher list).
        case configuration = "TLS configuration invalid"
        /// The handshake failed.
        case handshakeFailed = "TLS handshake failed"
        /// The handshake did not finish within the configured timeout.
        case handshakeTimeout = "TLS handshake timed out"
        /// A record could not be decrypted or the peer sent an alert after the handshake.
        case protocolError = "TLS protocol error"
        /// The connection closed before the handshake finished.
        case closedDuringHandshake = "connection closed during TLS handshake"
        /// A write was attempted after close_notify was sent or received.
        case writeAfterClose = "write after TLS close"
    }

    public var kind: Kind
    public var role: TLSRole?
    public var peer: String?
    /// OpenSSL's reasons, oldest first, plus the certificate verification result where relevant.
    public var reasons: [String]

    public init(_ kind: Kind, role: TLSRole? = nil, peer: String? = nil, reasons: [String] = []) {
        self.kind = kind
        self.role = role
        self.peer = peer
        self.reasons = reasons
    }

    public var description: String {
        var text = kind.rawValue
        var context: [String] = []
        if let role { context.append(role.rawValue) }
        if let peer { context.append("peer \(peer)") }
        if !context.isEmpty { text += " (\(context.joined(separator: ", ")))" }
        if !reasons.isEmpty { text += ": " + reasons.joined(separator: "; ") }
        return text
    }
}
