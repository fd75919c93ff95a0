import NIOCore

/// A listener after binding: its configuration and the address it actually listens on (with the
/// real port when the configuration asked for port 0).
public struct SMTPBoundListener: Sendable {
    public var configuration: SMTPListenerConfiguration
    public var address: SocketAddress

    /// The bound port.
    public var port: Int { address.port ?? configuration.port }
}
