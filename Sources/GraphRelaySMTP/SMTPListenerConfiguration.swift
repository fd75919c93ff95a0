/// How a listener uses TLS.
public enum SMTPListenerTLSMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Plaintext only; STARTTLS is not offered (`502 5.5.1`).
    case none
    /// Plaintext first, `STARTTLS` offered when a TLS context is available (ports 25 and 587).
    case starttls
    /// TLS from the first byte (port 465, RFC 8314).
    case implicit

    public var description: String { rawValue }
}

/// One listening socket and its protocol options.
public struct SMTPListenerConfiguration: Sendable, Hashable {
    /// Name for logs and ``SMTPSessionInfo/listenerName``. Default `smtp`.
    public var name: String
    /// Address to bind: an IPv4 or IPv6 literal, or `0.0.0.0`/`::` for all. Default `0.0.0.0`.
    public var host: String
    /// TCP port; 0 picks a free port (tests). Default 25.
    public var port: Int
    /// Default ``SMTPListenerTLSMode/none``.
    public var tls: SMTPListenerTLSMode
    /// Offer and accept AUTH without TLS. Passwords then cross the network in clear text; only for
    /// legacy devices that cannot do TLS. Default `false` (AUTH over plaintext gets `538 5.7.11`).
    public var allowPlaintextAuthentication: Bool
    /// Refuse MAIL until TLS is active (`530 5.7.0`). Default `false`.
    public var requireTLS: Bool
    /// Default ``SMTPLineEndings/strict``.
    public var lineEndings: SMTPLineEndings
    /// The PROXY protocol (v1 or v2) precedes every connection: the header's client address
    /// replaces the peer's for access, limits, `Received:` and logs. Only the addresses in
    /// ``SMTPServerConfiguration/proxyTrust`` may connect. Default false.
    public var proxyProtocol = false

    public init(
        name: String = "smtp", host: String = "0.0.0.0", port: Int = 25, tls: SMTPListenerTLSMode = .none,
        allowPlaintextAuthentication: Bool = false, requireTLS: Bool = false, lineEndings: SMTPLineEndings = .strict
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.tls = tls
        self.allowPlaintextAuthentication = allowPlaintextAuthentication
        self.requireTLS = requireTLS
        self.lineEndings = lineEndings
    }
}
