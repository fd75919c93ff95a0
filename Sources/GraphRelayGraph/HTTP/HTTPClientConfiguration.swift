import GraphRelayTLS
import NIOCore

/// Settings of an ``HTTPClient``. Every value has a documented default.
public struct HTTPClientConfiguration: Sendable {
    /// TCP connect, proxy tunnel and TLS handshake together. Default 10 s.
    public var connectTimeout: TimeAmount = .seconds(10)
    /// From sending the request until the whole response has arrived, unless a request gives its
    /// own. Default 60 s.
    public var requestTimeout: TimeAmount = .seconds(60)
    /// How long an unused keep-alive connection stays open. Default 50 s (below the idle limits
    /// of Microsoft's front ends, so the server rarely closes a connection we are about to reuse).
    public var idleTimeout: TimeAmount = .seconds(50)
    /// Idle keep-alive connections kept per endpoint (scheme, host, port); more connections are
    /// opened when needed and closed after use. Default 8.
    public var maxIdleConnectionsPerEndpoint: Int = 8
    /// Responses with a longer body fail with ``HTTPClientError/Kind/responseTooLarge``. Default 1 MiB.
    public var maxResponseBodySize: Int = 1 << 20
    /// TLS for `https://` (client mode). Default: verify against the system trust store, ALPN
    /// `http/1.1`. Add a private CA with `additionalTrustRoots`. The handshake timeout is taken
    /// from ``connectTimeout``.
    public var tls: TLSConfiguration = .client(applicationProtocols: ["http/1.1"])
    /// The CONNECT proxy, if any (see ``HTTPProxyConfiguration/fromEnvironment(_:)``). Default none.
    public var proxy: HTTPProxyConfiguration?
    /// `User-Agent` sent when a request has none. Default `graph-relay`.
    public var userAgent: String = "graph-relay"

    public init() {}
}
