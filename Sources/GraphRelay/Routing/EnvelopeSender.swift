/// The SMTP reverse-path (`MAIL FROM:<…>`): an address or the null sender `<>` used by
/// bounces and delivery status notifications.
public enum EnvelopeSender: Sendable, Hashable, CustomStringConvertible {
    case null
    case address(String)

    /// From the reverse-path as the SMTP layer reports it: `""` or `"<>"` is the null sender;
    /// surrounding angle brackets are removed.
    public init(_ reversePath: String) {
        var text = Substring(reversePath.trimmingASCIIWhitespace())
        if text.hasPrefix("<"), text.hasSuffix(">"), text.count >= 2 {
            text = text.dropFirst().dropLast()
        }
        self = text.isEmpty ? .null : .address(String(text))
    }

    /// The address as given, `nil` for the null sender.
    public var address: String? {
        if case .address(let address) = self { return address }
        return nil
    }

    /// The lowercased, unquoted form used for matching (see ``MailAddress/canonical(_:)``);
    /// `nil` for the null sender.
    public var canonicalAddress: String? {
        address.map(MailAddress.canonical)
    }

    /// `<address>` or `<>`.
    public var description: String {
        switch self {
        case .null: "<>"
        case .address(let address): "<\(address)>"
        }
    }
}
