/// A listening address, `host:port` (`0.0.0.0:25`, `[::]:25`, `127.0.0.1:2525`, `localhost:2525`).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IP address or host name; IPv6 without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Why an address was refused.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        let host: String
        let portText: Substring
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]"),
                  trimmed[trimmed.index(after: close)...].hasPrefix(":")
            else { throw ParseError(description: "'\(trimmed)' is not [IPv6]:port") }
            host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            portText = trimmed[trimmed.index(close, offsetBy: 2)...]
            guard IPAddress(host) != nil, !(IPAddress(host)?.isIPv4 ?? true) else {
                throw ParseError(description: "'\(host)' is not an IPv6 address")
            }
        } else {
            guard let colon = trimmed.lastIndex(of: ":") else {
                throw ParseError(description: "'\(trimmed)' has no port; expected host:port like 0.0.0.0:25")
            }
            host = String(trimmed[..<colon])
            portText = trimmed[trimmed.index(after: colon)...]
            guard !host.contains(":") else {
                throw ParseError(description: "'\(trimmed)': write IPv6 addresses in brackets, like [::]:25")
            }
            guard !host.isEmpty else {
                throw ParseError(description: "'\(trimmed)' has no host; use 0.0.0.0:PORT or [::]:PORT for all addresses")
            }
            guard IPAddress(host) != nil || ListenAddress.isHostName(host) else {
                throw ParseError(description: "'\(host)' is neither an IP address nor a host name")
            }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit),
              let port = Int(portText), (0...65535).contains(port)
        else { throw ParseError(description: "'\(trimmed)' has an invalid port (expected 1–65535, or 0 for any free port)") }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy {
                    ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
                }
        }
    }
}
