/// Everything the SMTP listener needs besides the policy hooks.
public struct SMTPServerConfiguration: Sendable {
    /// The relay's host name: in the greeting, the EHLO reply and the `Received:` header.
    /// Default `localhost`; set it to the name clients know the relay by.
    public var hostname: String
    /// Greeting text after the host name: `220 <hostname> <banner>`. Default `ESMTP graph-relay`.
    public var banner: String
    /// The sockets to listen on. Default: one plaintext listener on 0.0.0.0:25.
    public var listeners: [SMTPListenerConfiguration]
    /// Default ``SMTPLimits/init()``.
    public var limits: SMTPLimits
    /// TLS contexts for STARTTLS and implicit-TLS listeners, asked once per new connection so
    /// reloaded certificates apply to new connections. Default nil: STARTTLS is not offered and
    /// implicit-TLS connections are closed.
    public var tls: (any SMTPTLSContextSource)?
    /// Contexts for particular listeners (by ``SMTPListenerConfiguration/name``) instead of
    /// ``tls``: e.g. one listener that still accepts TLS 1.0 for old printers while the others stay
    /// modern. Default none.
    public var listenerTLS: [String: any SMTPTLSContextSource] = [:]
    /// Who may send the PROXY protocol header, per listener (by name) with
    /// ``SMTPListenerConfiguration/proxyProtocol``: a connection from anyone else is closed
    /// without a banner. A listener with the PROXY protocol and no entry here trusts nobody.
    public var proxyTrust: [String: any SMTPProxyTrust] = [:]

    /// The context source for `listener`: its own, else ``tls``.
    public func tls(for listener: SMTPListenerConfiguration) -> (any SMTPTLSContextSource)? {
        listenerTLS[listener.name] ?? tls
    }

    public init(
        hostname: String = "localhost", banner: String = "ESMTP graph-relay",
        listeners: [SMTPListenerConfiguration] = [SMTPListenerConfiguration()], limits: SMTPLimits = SMTPLimits(),
        tls: (any SMTPTLSContextSource)? = nil
    ) {
        self.hostname = hostname
        self.banner = banner
        self.listeners = listeners
        self.limits = limits
        self.tls = tls
    }
}
