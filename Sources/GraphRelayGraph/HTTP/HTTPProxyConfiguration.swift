import Foundation

/// An HTTP proxy reached with CONNECT: the client opens a plain TCP connection to the proxy, asks
/// it for a tunnel to the target (`CONNECT host:port`), then speaks TLS end to end through it.
/// Plain `http://` targets are tunnelled the same way.
///
/// Configure it explicitly, or take it from the environment with ``fromEnvironment(_:)``
/// (`https_proxy`/`HTTPS_PROXY`, `no_proxy`/`NO_PROXY`).
public struct HTTPProxyConfiguration: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public var host: String
    public var port: Int
    /// Basic credentials for the proxy (`Proxy-Authorization`). Never logged.
    public var username: String?
    public var password: String?
    /// Hosts reached directly: exact names or addresses, domain suffixes (`example.com` and
    /// `.example.com` both match `a.example.com`), `*` for all; an optional `:port` narrows an entry.
    public var noProxy: [String]

    public init(host: String, port: Int, username: String? = nil, password: String? = nil, noProxy: [String] = []) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.noProxy = noProxy
    }

    /// Parses `http://[user:password@]host[:port][/]` (scheme optional; default port 8080, as
    /// curl does without a scheme port). `https://` proxies (TLS to the proxy itself) are not
    /// supported and rejected with an error saying so.
    public init(url: String, noProxy: [String] = []) throws(HTTPClientError) {
        var text = url.trimmingCharacters(in: .whitespaces)
        func invalid(_ why: String) -> HTTPClientError {
            HTTPClientError(.invalidURL, detail: "invalid proxy URL '\(Self.redact(url))': \(why)")
        }
        if let range = text.range(of: "://") {
            let scheme = text[..<range.lowerBound].lowercased()
            guard scheme == "http" else {
                throw invalid(scheme == "https" ? "TLS to the proxy (https://) is not supported; use http://" : "scheme must be http")
            }
            text = String(text[range.upperBound...])
        }
        if let slash = text.firstIndex(of: "/") {
            guard text[slash...].allSatisfy({ $0 == "/" }) else { throw invalid("a proxy URL has no path") }
            text = String(text[..<slash])
        }
        var username: String?
        var password: String?
        if let at = text.lastIndex(of: "@") {
            let userInfo = text[..<at]
            text = String(text[text.index(after: at)...])
            if let colon = userInfo.firstIndex(of: ":") {
                username = String(userInfo[..<colon]).removingPercentEncoding ?? String(userInfo[..<colon])
                let pass = userInfo[userInfo.index(after: colon)...]
                password = String(pass).removingPercentEncoding ?? String(pass)
            } else {
                username = String(userInfo).removingPercentEncoding ?? String(userInfo)
            }
        }
        let parsed: HTTPURL
        do {
            parsed = try HTTPURL("http://" + text)
        } catch {
            throw invalid(error.detail.components(separatedBy: ": ").last ?? "unparseable")
        }
        let explicitPort = text.hasSuffix(":\(parsed.endpoint.port)")
        self.init(host: parsed.endpoint.host, port: explicitPort ? parsed.endpoint.port : 8080,
                  username: username, password: password, noProxy: noProxy)
    }

    /// The proxy for HTTPS targets named by the environment: `https_proxy` (or `HTTPS_PROXY`), with
    /// `no_proxy` (or `NO_PROXY`, comma-separated). `nil` when none is set.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(HTTPClientError) -> HTTPProxyConfiguration? {
        guard let url = nonEmpty(environment["https_proxy"]) ?? nonEmpty(environment["HTTPS_PROXY"]) else { return nil }
        let noProxy = (nonEmpty(environment["no_proxy"]) ?? nonEmpty(environment["NO_PROXY"]) ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return try HTTPProxyConfiguration(url: url, noProxy: noProxy)
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return value
    }

    /// Whether a connection to `endpoint` goes through the proxy (not excluded by ``noProxy``).
    public func shouldProxy(_ endpoint: HTTPEndpoint) -> Bool {
        let host = endpoint.host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        for rawEntry in noProxy {
            var entry = rawEntry.lowercased()
            if entry == "*" { return false }
            var entryPort: Int?
            // host:port (not an IPv6 address without brackets)
            if entry.hasPrefix("[") {
                if let close = entry.firstIndex(of: "]") {
                    let after = entry[entry.index(after: close)...]
                    if after.hasPrefix(":") { entryPort = Int(after.dropFirst()) }
                    entry = String(entry[entry.index(after: entry.startIndex)..<close])
                }
            } else if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") {
                entryPort = Int(entry[entry.index(after: colon)...])
                entry = String(entry[..<colon])
            }
            if let entryPort, entryPort != endpoint.port { continue }
            while entry.hasPrefix("*.") { entry.removeFirst() }
            entry = entry.trimmingCharacters(in: CharacterSet(charactersIn: "."))
            if entry.isEmpty { continue }
            if host == entry || host.hasSuffix("." + entry) { return false }
        }
        return true
    }

    /// `Basic base64(user:password)`, or nil without credentials.
    var authorizationHeader: String? {
        guard let username else { return nil }
        let credentials = "\(username):\(password ?? "")"
        return "Basic " + Data(credentials.utf8).base64EncodedString()
    }

    /// `http://host:port` without credentials: safe for logs.
    public var endpointDescription: String {
        HTTPEndpoint(scheme: .http, host: host, port: port).hostAndPort
    }

    public var description: String {
        username == nil ? "http://\(endpointDescription)" : "http://***@\(endpointDescription)"
    }

    public var debugDescription: String { description }

    static func redact(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@") else { return url }
        if let scheme = url.range(of: "://"), scheme.upperBound <= at {
            return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
        }
        return "***" + String(url[at...])
    }
}
