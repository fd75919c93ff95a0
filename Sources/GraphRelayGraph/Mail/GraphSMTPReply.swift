/// An SMTP reply (code, enhanced status code, text) the relay can send a device for a Graph
/// outcome. Plain data: the SMTP module formats it.
public struct GraphSMTPReply: Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    /// RFC 3463 enhanced status code, e.g. `5.7.1`.
    public var enhancedCode: String
    /// One line of printable ASCII (no CR/LF), at most ~300 characters.
    public var text: String

    public init(code: Int, enhancedCode: String, text: String) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.text = Self.sanitize(text)
    }

    /// Whether the device should retry later (4xx) rather than give up (5xx).
    public var isTransient: Bool { (400..<500).contains(code) }

    /// `550 5.7.1 text`
    public var description: String { "\(code) \(enhancedCode) \(text)" }

    /// Printable ASCII only, whitespace collapsed, at most 300 characters.
    static func sanitize(_ text: String) -> String {
        var out = ""
        var lastWasSpace = false
        for scalar in text.unicodeScalars {
            let isSpace = scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\n"
            if isSpace {
                if !lastWasSpace && !out.isEmpty { out.append(" ") }
                lastWasSpace = true
            } else if scalar.value >= 0x21 && scalar.value < 0x7F {
                out.unicodeScalars.append(scalar)
                lastWasSpace = false
            } else {
                out.append("?")
                lastWasSpace = false
            }
        }
        while out.hasSuffix(" ") { out.removeLast() }
        if out.count > 300 { out = String(out.prefix(297)) + "..." }
        return out
    }
}
