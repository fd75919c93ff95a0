import Foundation
import GraphRelaySMTP
import GraphRelayTLS
import NIOCore

/// The listener's own defaults, which the `smtp` keys share.
private let listenerDefaults = SMTPLimits()

extension RelayConfiguration {
    /// `smtp`: the SMTP listener side.
    public struct SMTP: Sendable, Hashable {
        /// `smtp.hostname`: the name in the greeting, `Received:` fields and generated
        /// Message-IDs. Default: the machine's host name.
        public var hostname: String = ProcessInfo.processInfo.hostName
        /// `smtp.listeners`. Default one listener on `0.0.0.0:25` (STARTTLS when `tls` is
        /// configured, plain otherwise).
        public var listeners: [Listener] = [Listener(address: ListenAddress(host: "0.0.0.0", port: 25))]
        /// `smtp.maxMessageSize`: the largest message accepted (advertised as `SIZE`; larger ones
        /// get `552 5.3.4` before any 250), in bytes, at most 150 MiB. Default `35MiB`
        /// (36,700,160: Exchange Online's default limit); with `graph.sendVia: sendMail` the
        /// default, and the most allowed, is `3MB` (one request of 4 MB after base64, with room
        /// for the header fields the relay adds).
        public var maxMessageSize: Int = listenerDefaults.maximumMessageSize
        /// `smtp.maxHeaderSize`: the largest header section (everything before the first empty
        /// line) the relay reads to merge recipients. Default `256KiB`.
        public var maxHeaderSize: Int = 256 * 1024
        /// `smtp.maxRecipients`: RCPT TO commands accepted per message. Default 500 (Exchange
        /// Online's limit per message).
        public var maxRecipients: Int = listenerDefaults.maximumRecipients
        /// `smtp.maxConnections`: concurrent SMTP sessions over all listeners. Default 200.
        public var maxConnections: Int = listenerDefaults.maximumConnections
        /// `smtp.commandTimeout`: how long the server waits for the next command. Default `5m`
        /// (RFC 5321 §4.5.3.2).
        public var commandTimeout = Duration(listenerDefaults.commandTimeout)
        /// `smtp.minimumDataRate`: octets per second a client must keep up while sending message
        /// content (each octet extends the deadline by 1/rate s, never beyond `commandTimeout`), so
        /// a byte-a-second client cannot hold a slot. Default 500.
        public var minimumDataRate: Int = listenerDefaults.minimumDataRate
        /// `smtp.maxConnectionsPerClient`: concurrent sessions from one client (an IPv4
        /// address, or an IPv6 /64). Default 50.
        public var maxConnectionsPerClient: Int = listenerDefaults.maximumConnectionsPerClient
        /// `smtp.maxSessionDuration`: the longest one SMTP session may last, however busy
        /// (`421 4.4.2` after it). Default `1h`.
        public var maxSessionDuration = Duration(listenerDefaults.maximumSessionDuration)
        /// `smtp.maxDataDuration`: the longest the content of one message (or one BDAT chunk)
        /// may take to arrive, even at `minimumDataRate` (`421 4.4.2` after it). Default `10m`.
        public var maxDataDuration = Duration(listenerDefaults.maximumDataDuration)
        /// `smtp.maxJunkCommands`: EHLO, HELO, NOOP, RSET, VRFY, EXPN and HELP per accepted
        /// message before each further one counts as an error (Postfix's
        /// `smtpd_junk_command_limit`). Default 100.
        public var maxJunkCommands: Int = listenerDefaults.maximumJunkCommands
        /// `smtp.proxyHeaderTimeout`: how long a `proxyProtocol` listener waits for the proxy's
        /// header before it closes the connection (no banner is sent before it). Default `5s`.
        public var proxyHeaderTimeout = Duration(listenerDefaults.proxyHeaderTimeout)
        /// `smtp.drainTimeout`: on SIGTERM the listeners close at once and `/readyz` turns 503;
        /// sessions may finish the transaction under way for this long, then get `421 4.3.2`.
        /// Default `30s` (`serve --shutdown-grace` overrides it).
        public var drainTimeout: Duration = .seconds(30)

        public init() {}
    }

    /// The largest `smtp.maxMessageSize` with `graph.sendVia: sendMail`: 3,000,000 bytes, so
    /// that the message, the `Received:` field and recipients merged into `Bcc:` fit one
    /// request of 4 MiB after base64 (3,145,728 bytes raw).
    public static let sendMailMessageSizeLimit = 3_000_000

    /// `smtp.listeners[]`.
    public struct Listener: Sendable, Hashable {
        /// `address`: `host:port`, e.g. `0.0.0.0:25`, `[::]:587`. Required.
        public var address: ListenAddress
        /// `tls`: `none`, `starttls` or `implicit`. Default `starttls` when a `tls` section
        /// exists, else `none`.
        public var tls: ListenerTLSMode
        /// `allowPlaintextAuth`: offer AUTH before TLS is active. Default `false` (AUTH only
        /// after STARTTLS or on implicit TLS). Needed on `tls: none` listeners for AUTH at all.
        public var allowPlaintextAuth: Bool = false
        /// `requireTLS`: refuse MAIL FROM before STARTTLS (530 5.7.0). Default `false`.
        /// Meaningless on `implicit` (always TLS); an error with `none`.
        public var requireTLS: Bool = false
        /// `lineEndings`: `strict` (default: a message with bare CR or LF is read to its real end
        /// and refused with 550 5.5.2), `normalize` (bare-LF lines stored as CRLF; the end of data
        /// still needs `CRLF.CRLF`) or `legacy-lf` (also ends at `LF.LF`: smuggling-prone, only for
        /// a listener reserved to old LF-only devices).
        public var lineEndings: LineEndingPolicy = .strict
        /// `requireHeaderFromMatch`: refuse (`550 5.7.1`, at the end of data) every message on this
        /// listener whose `From:` address (after the route's `rewriteFrom`) is not the envelope
        /// sender. Default `false`. The same option exists per route.
        public var requireHeaderFromMatch: Bool = false
        /// `allowLegacyProtocols`: this listener gets its own TLS context that also accepts TLS 1.0
        /// and 1.1 and the CBC suites old printers need (OpenSSL security level 0), while the other
        /// listeners stay modern. Default `false`. Needs `tls: starttls` or `implicit`.
        public var allowLegacyProtocols: Bool = false
        /// `proxyProtocol`: every connection starts with a PROXY protocol header (v1 or v2, told
        /// apart by its signature) from a load balancer; its client address replaces the peer's
        /// for access, limits, `Received:`, logs. Default `false`. Needs `trustedProxies`.
        public var proxyProtocol: Bool = false
        /// `trustedProxies`: CIDR blocks of the load balancers allowed to send the header; any
        /// other peer is closed without a banner. Required with `proxyProtocol: true`.
        public var trustedProxies: [CIDRBlock] = []

        public init(address: ListenAddress, tls: ListenerTLSMode = .none) {
            self.address = address
            self.tls = tls
        }
    }

    /// `smtp.listeners[].tls`.
    public enum ListenerTLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain SMTP, no STARTTLS offered.
        case none
        /// Plain SMTP with STARTTLS offered (ports 25, 587).
        case starttls
        /// TLS from the first byte (port 465).
        case implicit
    }

    /// `smtp.listeners[].lineEndings`.
    public enum LineEndingPolicy: String, Sendable, Hashable, CaseIterable {
        case strict
        case normalize
        case legacyLF = "legacy-lf"
    }

    /// `tls`: the server certificate and protocol settings for SMTP.
    public struct TLS: Sendable, Hashable {
        /// `tls.certificate`: PEM certificate chain, leaf first. A path (re-read when the TLS
        /// context is rebuilt), `{ file: PATH }`, `{ env: NAME }` or inline PEM. Required.
        public var certificate: PEMSource
        /// `tls.privateKey`: PEM private key (RSA or ECDSA); same forms. Required.
        public var privateKey: PEMSource
        /// `tls.minimumVersion`: `1.2` (default) or `1.3`; `1.0`/`1.1` only with
        /// `allowLegacyProtocols`.
        public var minimumVersion: TLSVersion = .tls1_2
        /// `tls.maximumVersion`: default none (the newest OpenSSL supports).
        public var maximumVersion: TLSVersion?
        /// `tls.allowLegacyProtocols`: explicit opt-in for TLS 1.0/1.1 devices on **every**
        /// listener (lowers OpenSSL's security level to 0). When `true` and `minimumVersion` is not
        /// given, the minimum becomes TLS 1.0. Default `false`. Prefer the listener's own
        /// `allowLegacyProtocols`, which leaves the other listeners modern.
        public var allowLegacyProtocols: Bool = false
        /// `tls.cipherList`: OpenSSL cipher list for TLS ≤ 1.2. Default: the AEAD suites with
        /// forward secrecy of Mozilla's "intermediate" profile (`TLSConfiguration.intermediateCipherList`);
        /// OpenSSL's `DEFAULT` (with its CBC suites) on a legacy listener.
        public var cipherList: String?
        /// `tls.cipherSuites`: TLS 1.3 cipher suites. Default OpenSSL's.
        public var cipherSuites: String?
        /// `tls.handshakeTimeout`: default `10s`.
        public var handshakeTimeout: Duration = .seconds(10)

        public init(certificate: PEMSource, privateKey: PEMSource) {
            self.certificate = certificate
            self.privateKey = privateKey
        }

        /// The server configuration for ``GraphRelayTLS/TLSContext``.
        public var serverConfiguration: TLSConfiguration {
            var configuration = TLSConfiguration.server(certificateChain: certificate, privateKey: privateKey)
            configuration.minimumVersion = minimumVersion
            configuration.maximumVersion = maximumVersion
            configuration.allowLegacyProtocols = allowLegacyProtocols
            configuration.cipherList = cipherList
            configuration.cipherSuites = cipherSuites
            configuration.handshakeTimeout = TimeAmount(handshakeTimeout)
            return configuration
        }

        /// The configuration of a listener with `allowLegacyProtocols: true`: the same material
        /// and settings, TLS 1.0 as the minimum and OpenSSL's security level 0.
        public var legacyServerConfiguration: TLSConfiguration {
            var configuration = serverConfiguration
            configuration.allowLegacyProtocols = true
            configuration.minimumVersion = .tls1_0
            return configuration
        }
    }
}
