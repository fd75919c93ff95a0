/// Where a connection goes: scheme, host and port. Connections are pooled per endpoint.
public struct HTTPEndpoint: Hashable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Hashable {
        case http
        case https

        public var defaultPort: Int { self == .https ? 443 : 80 }
    }

    public var scheme: Scheme
    /// Host name or IP address, without IPv6 brackets.
    public var host: String
    public var port: Int

    public init(scheme: Scheme, host: String, port: Int? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port ?? scheme.defaultPort
    }

    /// `host` with IPv6 brackets where needed, plus the port unless it is the scheme's default:
    /// the value of the `Host` header.
    public var authority: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == scheme.defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    /// `host:port` with IPv6 brackets where needed: the target of a CONNECT request.
    public var hostAndPort: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return "\(bracketed):\(port)"
    }

    public var description: String { "\(scheme.rawValue)://\(authority)" }
}
