/// The ESMTP parameters of `MAIL FROM` the listener supports. Anything else is refused with
/// `555 5.5.4` before the policy is asked.
public struct SMTPMailParameters: Sendable, Hashable {
    /// `BODY=` (RFC 6152).
    public enum Body: String, Sendable, Hashable {
        case sevenBit = "7BIT"
        case eightBitMIME = "8BITMIME"
    }

    /// `SIZE=n` (RFC 1870): the client's estimate of the message size in octets.
    public var size: Int?
    /// `BODY=7BIT|8BITMIME`.
    public var body: Body?
    /// `SMTPUTF8` (RFC 6531): the envelope or headers may contain UTF-8.
    public var smtpUTF8: Bool
    /// `AUTH=` (RFC 4954 §5) as sent (xtext, or `<>`); informational only.
    public var auth: String?

    public init(size: Int? = nil, body: Body? = nil, smtpUTF8: Bool = false, auth: String? = nil) {
        self.size = size
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.auth = auth
    }
}
