import Foundation

/// An HTTP(S) base URL from the configuration (`loginEndpoint`, `graphEndpoint`, `graph.proxy`),
/// parsed into the parts a client needs.
public struct ServiceEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// `https` or `http`.
    public let scheme: String
    /// Host name or IP address (IPv6 without brackets).
    public let host: String
    /// The port, explicit or the scheme's default (443 / 80).
    public let port: Int
    /// The base path without trailing slash (usually empty).
    public let path: String

    /// Why a URL was refused.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    /// Parses an absolute URL.
    ///
    /// - Parameters:
    ///   - allowedSchemes: the schemes accepted. `http` is additionally accepted for loopback
    ///     hosts when `allowPlainHTTPToLoopback` (local emulators in tests).
    ///   - allowCredentials: accept (and ignore) `user:password@` in the URL; the caller reads
    ///     them itself (proxies).
    public init(
        parsing text: String,
        allowedSchemes: Set<String> = ["https"],
        allowPlainHTTPToLoopback: Bool = true,
        allowCredentials: Bool = false
    ) throws(ParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
              let rawHost = components.host, !rawHost.isEmpty
        else {
            throw ParseError(description: "'\(trimmed)' is not an absolute URL like https://host[:port]")
        }
        let host = rawHost.hasPrefix("[") && rawHost.hasSuffix("]") ? String(rawHost.dropFirst().dropLast()) : rawHost
        let isLoopback = host == "localhost" || IPAddress(host)?.isLoopback == true
        guard allowedSchemes.contains(scheme) || (scheme == "http" && allowPlainHTTPToLoopback && isLoopback) else {
            let allowed = allowedSchemes.sorted().joined(separator: " or ")
            throw ParseError(description: "'\(trimmed)' must use \(allowed)"
                + (allowPlainHTTPToLoopback && !allowedSchemes.contains("http") ? " (http only to a loopback address)" : ""))
        }
        guard components.query == nil, components.fragment == nil else {
            throw ParseError(description: "'\(trimmed)' must not have a query or fragment")
        }
        guard allowCredentials || (components.user == nil && components.password == nil) else {
            throw ParseError(description: "'\(trimmed)' must not contain credentials")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw ParseError(description: "'\(trimmed)' has an invalid port")
        }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.path = path
    }

    /// Normalised URL: scheme, host, port only if not the default, path; no trailing slash.
    public var url: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        return "\(scheme)://\(hostPart)\(port == defaultPort ? "" : ":\(port)")\(path)"
    }

    /// `true` for `https`.
    public var usesTLS: Bool { scheme == "https" }

    public var description: String { url }
}
