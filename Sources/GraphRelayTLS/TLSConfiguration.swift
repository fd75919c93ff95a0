import NIOCore

/// A TLS protocol version, ordered from oldest to newest.
public enum TLSVersion: String, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case tls1_0 = "TLSv1.0"
    case tls1_1 = "TLSv1.1"
    case tls1_2 = "TLSv1.2"
    case tls1_3 = "TLSv1.3"

    public var description: String { rawValue }

    /// Parses `1.0`, `1.2`, `TLSv1.2`, `tls1.3`, … (case-insensitive).
    public init?(configurationValue value: String) {
        let lowered = value.lowercased()
        let bare = lowered.hasPrefix("tlsv") ? String(lowered.dropFirst(4))
            : lowered.hasPrefix("tls") ? String(lowered.dropFirst(3)) : lowered
        switch bare {
        case "1.0", "1": self = .tls1_0
        case "1.1": self = .tls1_1
        case "1.2": self = .tls1_2
        case "1.3": self = .tls1_3
        default: return nil
        }
    }

    var order: Int {
        switch self {
        case .tls1_0: 0
        case .tls1_1: 1
        case .tls1_2: 2
        case .tls1_3: 3
        }
    }

    public static func < (lhs: TLSVersion, rhs: TLSVersion) -> Bool { lhs.order < rhs.order }
}

/// Where PEM material comes from: a file (re-read whenever a context is built, so rotated
/// certificates are picked up by ``ReloadableTLSContext``) or bytes held in memory.
public enum PEMSource: Sendable, Hashable {
    case file(String)
    case pem(String)
}

/// Settings for one TLS context, shared by every connection made from it.
///
/// Defaults are the safe choice for a mail gateway in 2026: TLS 1.2 minimum; as a server, only
/// AEAD suites with forward secrecy for TLS 1.2 (``intermediateCipherList``) and OpenSSL's TLS 1.3
/// suites; renegotiation off; 10 s to finish a handshake.
public struct TLSConfiguration: Sendable, Hashable {
    /// Certificate chain, leaf first (PEM). Required in server mode; optional client certificate
    /// otherwise.
    public var certificateChain: PEMSource?
    /// Private key of the leaf certificate (PEM; RSA or ECDSA).
    public var privateKey: PEMSource?
    /// Lowest protocol version accepted. Default TLS 1.2. TLS 1.0 and 1.1 need ``allowLegacyProtocols``.
    public var minimumVersion: TLSVersion = .tls1_2
    /// Highest protocol version offered; `nil` means the newest OpenSSL supports. Default `nil`.
    public var maximumVersion: TLSVersion?
    /// Explicit opt-in for TLS 1.0/1.1 peers (old printers and scanners). Also lowers OpenSSL's
    /// security level to 0 so the SHA-1 handshake and AES-CBC suites those peers need are allowed.
    /// Default `false`.
    public var allowLegacyProtocols: Bool = false
    /// OpenSSL cipher list for TLS 1.2 and below (`SSL_CTX_set_cipher_list`). Default `nil`: a
    /// server uses ``intermediateCipherList`` (OpenSSL's `DEFAULT` with ``allowLegacyProtocols``,
    /// which old devices need for their CBC suites), a client OpenSSL's default.
    public var cipherList: String?
    /// TLS 1.3 ciphersuites (`SSL_CTX_set_ciphersuites`); `nil` keeps OpenSSL's default. Default `nil`.
    public var cipherSuites: String?
    /// How long a handshake may take before the connection is closed. Default 10 s.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Verify the peer's certificate (client mode: against the system trust store plus
    /// ``additionalTrustRoots``). Default `true`. Server mode never asks for client certificates.
    public var verifyPeer: Bool = true
    /// Load the system trust store (client mode). Default `true`.
    public var useSystemTrustRoots: Bool = true
    /// Extra trust anchors (PEM, one or more certificates), e.g. a private CA. Default none.
    public var additionalTrustRoots: [PEMSource] = []
    /// ALPN protocols offered (client mode). Default none; the Graph client offers `http/1.1`.
    public var applicationProtocols: [String] = []

    public init() {}

    /// The TLS 1.2 suites of Mozilla's "intermediate" profile (v5.7): ECDHE or DHE key exchange
    /// (forward secrecy) with AES-GCM or ChaCha20-Poly1305 (AEAD) only, no CBC suite (LUCKY13) and
    /// no static RSA key exchange.
    public static let intermediateCipherList = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// A server configuration from a PEM certificate chain and key.
    public static func server(certificateChain: PEMSource, privateKey: PEMSource) -> TLSConfiguration {
        var configuration = TLSConfiguration()
        configuration.certificateChain = certificateChain
        configuration.privateKey = privateKey
        return configuration
    }

    /// A client configuration verifying peers against the system trust store.
    public static func client(applicationProtocols: [String] = []) -> TLSConfiguration {
        var configuration = TLSConfiguration()
        configuration.applicationProtocols = applicationProtocols
        return configuration
    }
}

/// Which end of the handshake a context serves.
public enum TLSRole: String, Sendable {
    case server
    case client
}
