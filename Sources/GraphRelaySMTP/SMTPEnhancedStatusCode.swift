/// An enhanced mail system status code (RFC 3463, registry RFC 5248): `class.subject.detail`,
/// e.g. `5.7.1` (delivery not authorised). Sent after the reply code when the server advertises
/// `ENHANCEDSTATUSCODES` (RFC 2034).
public struct SMTPEnhancedStatusCode: Sendable, Hashable, CustomStringConvertible {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    public var statusClass: Int
    /// 0…999: 1 addressing, 2 mailbox, 3 mail system, 4 network/routing, 5 protocol, 6 content, 7 security.
    public var subject: Int
    /// 0…999, meaning depends on the subject.
    public var detail: Int

    public init(_ statusClass: Int, _ subject: Int, _ detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Parses `5.7.1`; nil unless it is `class.subject.detail` with class 2, 4 or 5 and 1–3 digit parts.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              parts.allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy(\.isASCIIDigit) }),
              let c = Int(parts[0]), let s = Int(parts[1]), let d = Int(parts[2]),
              [2, 4, 5].contains(c)
        else { return nil }
        self.init(c, s, d)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
