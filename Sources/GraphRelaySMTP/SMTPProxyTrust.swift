import NIOCore

/// Whether a peer may speak the PROXY protocol to a listener (a load balancer's address).
public protocol SMTPProxyTrust: Sendable {
    func trusts(_ peer: SocketAddress) -> Bool
}
