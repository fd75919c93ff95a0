/// An absolute `http://` or `https://` URL split into the endpoint and the request target.
///
/// A deliberately small parser: `scheme://[user@]host[:port][/path][?query]`, IPv6 hosts in brackets.
/// Fragments are dropped. Anything else is rejected with an error naming the problem.
public struct HTTPURL: Hashable, Sendable, CustomStringConvertible {
    public var endpoint: HTTPEndpoint
    /// Path and query, always starting with `/`.
    public var target: String

    public init(endpoint: HTTPEndpoint, target: String = "/") {
        self.endpoint = endpoint
        self.target = target.hasPrefix("/") ? target : "/" + target
    }

    public init(_ string: String) throws(HTTPClientError) {
        func invalid(_ why: String) -> HTTPClientError {
            HTTPClientError(.invalidURL, detail: "invalid URL '\(string)': \(why)")
        }
        guard let schemeEnd = string.range(of: "://") else { throw invalid("expected http:// or https://") }
        guard let scheme = HTTPEndpoint.Scheme(rawValue: string[..<schemeEnd.lowerBound].lowercased()) else {
            throw invalid("scheme must be http or https")
        }
        var rest = string[schemeEnd.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        guard !authority.isEmpty else { throw invalid("no host") }

        let host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw invalid("no host") }
        guard !host.contains(where: { $0 == " " || $0 == "\t" }) else { throw invalid("blank in host") }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { throw invalid("port must be 1-65535") }
            port = value
        }
        self.endpoint = HTTPEndpoint(scheme: scheme, host: String(host), port: port)
        self.target = target
    }

    /// This URL with `path` appended to its path (a `/` is inserted or collapsed as needed); the
    /// query, if any, is dropped.
    public func appending(path: String) -> HTTPURL {
        var base = target
        if let query = base.firstIndex(of: "?") { base = String(base[..<query]) }
        while base.hasSuffix("/") { base.removeLast() }
        let suffix = path.hasPrefix("/") ? path : "/" + path
        return HTTPURL(endpoint: endpoint, target: base + suffix)
    }

    public var description: String { endpoint.description + target }

    /// Percent-encodes one path segment: everything but `A-Z a-z 0-9 - . _ ~ @`.
    public static func encodePathSegment(_ segment: String) -> String {
        var out = ""
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "@"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}
