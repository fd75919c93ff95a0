import GraphRelaySMTP
import NIOCore

extension RelayConfiguration {
    /// The listener settings for ``GraphRelaySMTP/SMTPServer``.
    func smtpServerConfiguration(tls: (any SMTPTLSContextSource)?) -> SMTPServerConfiguration {
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
        let listeners = smtp.listeners.enumerated().map { index, listener in
            SMTPListenerConfiguration(
                name: "smtp.listeners[\(index)] \(listener.address)",
                host: listener.address.host, port: listener.address.port,
                tls: SMTPListenerTLSMode(rawValue: listener.tls.rawValue) ?? .none,
                allowPlaintextAuthentication: listener.allowPlaintextAuth,
                requireTLS: listener.requireTLS,
                lineEndings: SMTPLineEndings(rawValue: listener.lineEndings.rawValue) ?? .strict
            )
        }
        return SMTPServerConfiguration(hostname: smtp.hostname, listeners: listeners, limits: limits, tls: tls)
    }
}
