/// What a finished handshake negotiated, for logs and `Received:` headers.
public struct TLSConnectionInfo: Sendable, Hashable, CustomStringConvertible {
    /// Protocol version as OpenSSL names it, e.g. `TLSv1.3`.
    public var version: String
    /// Cipher suite as OpenSSL names it, e.g. `TLS_AES_256_GCM_SHA384` or `AES128-SHA`.
    public var cipher: String
    /// Secret key bits of the cipher.
    public var cipherBits: Int
    /// The ALPN protocol the server chose, if any.
    public var applicationProtocol: String?

    public init(version: String, cipher: String, cipherBits: Int, applicationProtocol: String? = nil) {
        self.version = version
        self.cipher = cipher
        self.cipherBits = cipherBits
        self.applicationProtocol = applicationProtocol
    }

    /// `version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256`, the form Postfix uses in
    /// `Received:` headers.
    public var description: String {
        "version=\(version) cipher=\(cipher) bits=\(cipherBits)"
    }
}

/// Events the ``TLSHandler`` sends up the pipeline.
public enum TLSUserEvent: Sendable, Hashable {
    /// The handshake finished; application data now flows.
    case handshakeCompleted(TLSConnectionInfo)
    /// The peer sent close_notify; the handler answers with its own and closes the channel.
    case closeNotifyReceived
}
