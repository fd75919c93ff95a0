import GraphRelayTLS

/// What the listener knows about one client connection, handed to every policy and authenticator
/// call. Values grow during the session: the HELO name after HELO/EHLO, ``tls`` after the
/// handshake, ``authenticatedUser`` after a successful AUTH. STARTTLS resets the HELO name and
/// authentication (RFC 3207 §4.2).
public struct SMTPSessionInfo: Sendable, Hashable {
    /// Random session identifier for logs (`relay.session`).
    public var id: String
    /// Name of the listener the client connected to (``SMTPListenerConfiguration/name``).
    public var listenerName: String
    /// The client's IP address as text (`192.0.2.10`, `2001:db8::1`), or `unknown`.
    public var clientAddress: String
    /// The client's source port, if known.
    public var clientPort: Int?
    /// The local address and port the client connected to.
    public var localAddress: String
    public var localPort: Int?
    /// The HELO/EHLO argument, as sent.
    public var heloName: String?
    /// Whether the client greeted with EHLO (ESMTP) rather than HELO.
    public var usedEHLO: Bool
    /// The negotiated TLS parameters once TLS is active (STARTTLS or implicit TLS).
    public var tls: TLSConnectionInfo?
    /// The user name that authenticated with AUTH, if any.
    public var authenticatedUser: String?

    public init(
        id: String, listenerName: String, clientAddress: String, clientPort: Int? = nil,
        localAddress: String = "unknown", localPort: Int? = nil, heloName: String? = nil, usedEHLO: Bool = false,
        tls: TLSConnectionInfo? = nil, authenticatedUser: String? = nil
    ) {
        self.id = id
        self.listenerName = listenerName
        self.clientAddress = clientAddress
        self.clientPort = clientPort
        self.localAddress = localAddress
        self.localPort = localPort
        self.heloName = heloName
        self.usedEHLO = usedEHLO
        self.tls = tls
        self.authenticatedUser = authenticatedUser
    }
}
