import NIOCore

/// One SMTP reply: a three-digit code, an optional enhanced status code and one or more text lines.
///
/// On the wire every line but the last is `code-[status ]text`, the last `code [status ]text`
/// (RFC 5321 §4.2). The text is sanitised when encoded: CR, LF and other control characters become
/// spaces, so a policy cannot inject extra reply lines.
///
/// ```swift
/// SMTPReply(250, "2.0.0", "Ok: queued as 3F9A2C1B7E04")
/// SMTPReply(code: 451, enhancedStatusCode: .init(4, 3, 0), lines: ["Graph is unavailable", "try again later"])
/// ```
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The reply code, 200–599 (RFC 5321 §4.2.1).
    public var code: Int
    /// The enhanced status code (RFC 3463), whose class should match the code's first digit.
    public var enhancedStatusCode: SMTPEnhancedStatusCode?
    /// The text, one element per line; at least one line is sent (an empty one if this is empty).
    public var lines: [String]

    public init(code: Int, enhancedStatusCode: SMTPEnhancedStatusCode? = nil, lines: [String]) {
        self.code = code
        self.enhancedStatusCode = enhancedStatusCode
        self.lines = lines
    }

    /// `SMTPReply(550, "5.7.1", "Relay access denied")`. An unparsable status string is dropped.
    public init(_ code: Int, _ enhancedStatusCode: String?, _ text: String) {
        self.init(code: code, enhancedStatusCode: enhancedStatusCode.flatMap(SMTPEnhancedStatusCode.init), lines: [text])
    }

    /// 2xx or 3xx.
    public var isPositive: Bool { code < 400 }
    /// 4xx: the client may try again later.
    public var isTransientFailure: Bool { (400..<500).contains(code) }
    /// 5xx: the client must not repeat the same request.
    public var isPermanentFailure: Bool { code >= 500 }

    /// The reply as sent, lines joined with CRLF, for logs and tests: `250 2.0.0 Ok`.
    public var description: String {
        encodedLines().joined(separator: "\r\n")
    }

    /// The first line's text without code and status, for logs.
    public var text: String { lines.first ?? "" }

    func encodedLines() -> [String] {
        let code = (200...599).contains(self.code) ? self.code : 451
        let status = enhancedStatusCode.map { "\($0) " } ?? ""
        let texts = lines.isEmpty ? [""] : lines
        return texts.enumerated().map { index, line in
            let separator = index == texts.count - 1 ? " " : "-"
            return "\(code)\(separator)\(status)\(Self.sanitise(line))"
        }
    }

    /// Writes the reply in wire form (each line ending in CRLF).
    public func write(into buffer: inout ByteBuffer) {
        for line in encodedLines() {
            buffer.writeString(line)
            buffer.writeStaticString("\r\n")
        }
    }

    /// The reply in wire form.
    public var wireFormat: String {
        encodedLines().map { $0 + "\r\n" }.joined()
    }

    private static func sanitise(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }
}
