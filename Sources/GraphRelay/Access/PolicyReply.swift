/// An SMTP reply as plain data (the SMTP layer turns it into its own reply type):
/// `code` `enhancedCode` `text`, e.g. `530 5.7.0 Authentication required`.
public struct PolicyReply: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit reply code (530, 553, 550 …).
    public let code: Int
    /// The RFC 3463 enhanced status code (`5.7.0`).
    public let enhancedCode: String
    /// Human-readable text, one line, ASCII.
    public let text: String

    public init(code: Int, enhancedCode: String, text: String) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.text = text
    }

    /// `530 5.7.0 Authentication required`
    public var description: String { "\(code) \(enhancedCode) \(text)" }

    /// 530 5.7.0: neither authenticated nor from a trusted network.
    public static let authenticationRequired = PolicyReply(code: 530, enhancedCode: "5.7.0", text: "Authentication required")
}
