import GraphRelaySMTP
import NIOCore

extension RelayConfiguration {
    /// The listener settings for ``GraphRelaySMTP/SMTPServer``.
    ///
    /// - Parameters:
    ///   - tls: the context of every TLS listener.
    ///   - legacyTLS: the context of the listeners with `allowLegacyProtocols: true`.
    func smtpServerConfiguration(tls: (any SMTPTLSContextSource)?, legacyTLS: (any SMTPTLSContextSource)? = nil) -> SMTPServerConfiguration {
        var limits = SMTPLimits()
        limits.maximumMessageSize = smtp.maxMessageSize
        limits.maximumRecipients = smtp.maxRecipients
        limits.maximumConnections = smtp.maxConnections
        limits.maximumConnectionsPerClient = smtp.maxConnectionsPerClient
        limits.commandTimeout = TimeAmount(smtp.commandTimeout)
        limits.minimumDataRate = smtp.minimumDataRate
        limits.maximumSessionDuration = TimeAmount(smtp.maxSessionDuration)
        limits.maximumDataDuration = TimeAmount(smtp.maxDataDuration)
        limits.maximumJunkCommands = smtp.maxJunkCommands
        limits.proxyHeaderTimeout = TimeAmount(smtp.proxyHeaderTimeout)
        let listeners = smtp.listeners.enumerated().map { index, listener in
            var configuration = SMTPListenerConfiguration(
                name: Self.listenerName(index, listener),
                host: listener.address.host, port: listener.address.port,
                tls: SMTPListenerTLSMode(rawValue: listener.tls.rawValue) ?? .none,
                allowPlaintextAuthentication: listener.allowPlaintextAuth,
                requireTLS: listener.requireTLS,
                lineEndings: SMTPLineEndings(rawValue: listener.lineEndings.rawValue) ?? .strict
            )
            configuration.proxyProtocol = listener.proxyProtocol
            return configuration
        }
        var server = SMTPServerConfiguration(hostname: smtp.hostname, listeners: listeners, limits: limits, tls: tls)
        for (index, listener) in smtp.listeners.enumerated() where listener.proxyProtocol {
            server.proxyTrust[Self.listenerName(index, listener)] = TrustedProxies(blocks: listener.trustedProxies)
        }
        if let legacyTLS {
            for (index, listener) in smtp.listeners.enumerated() where listener.allowLegacyProtocols {
                server.listenerTLS[Self.listenerName(index, listener)] = legacyTLS
            }
        }
        return server
    }

    /// The name a listener's sessions carry (``SMTPSessionInfo/listenerName``).
    static func listenerName(_ index: Int, _ listener: Listener) -> String {
        "smtp.listeners[\(index)] \(listener.address)"
    }

    /// The names of the listeners with `requireHeaderFromMatch: true`.
    var headerFromMatchListeners: Set<String> {
        Set(smtp.listeners.enumerated().filter(\.element.requireHeaderFromMatch).map { Self.listenerName($0.offset, $0.element) })
    }
}

/// `smtp.listeners[].trustedProxies`: the load balancers a PROXY-protocol listener accepts.
struct TrustedProxies: SMTPProxyTrust {
    let blocks: [CIDRBlock]

    func trusts(_ peer: SocketAddress) -> Bool {
        guard let address = IPAddress(peer) else { return false }
        return blocks.contains { $0.contains(address) }
    }
}
