/// An envelope-sender pattern, used by `routes[].sender` and `access.users[].allowedSenders`.
///
/// | pattern | matches |
/// |---|---|
/// | `*` | every sender, including the null sender `<>` |
/// | `<>` | only the null sender |
/// | `*@contoso.com` | any address in exactly that domain |
/// | `*@*.contoso.com` | any address in a subdomain of contoso.com (not contoso.com itself) |
/// | `scanner@contoso.com` | that address |
///
/// Comparison is case-insensitive on the whole address; a quoted local part matches its
/// unquoted form (`"scanner"@contoso.com` = `scanner@contoso.com`).
public enum SenderPattern: Sendable, Hashable, CustomStringConvertible {
    case any
    case nullSender
    /// Lowercased domain.
    case domain(String)
    /// Lowercased parent domain (matches strict subdomains).
    case subdomains(String)
    /// Canonical address (``MailAddress/canonical(_:)``).
    case address(String)

    /// Why a pattern was refused.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        switch trimmed {
        case "":
            throw ParseError(description: "empty sender pattern; use '*', '<>', '*@domain' or an address")
        case "*":
            self = .any
            return
        case "<>":
            self = .nullSender
            return
        default:
            break
        }
        guard let at = trimmed.lastIndex(of: "@") else {
            throw ParseError(description:
                "'\(trimmed)' is not a sender pattern; use '*', '<>', '*@domain' or local@domain")
        }
        let local = trimmed[..<at]
        let domain = String(trimmed[trimmed.index(after: at)...]).lowercased()
        guard SenderPattern.isPlausibleDomain(domain.hasPrefix("*.") ? String(domain.dropFirst(2)) : domain) else {
            throw ParseError(description: "'\(trimmed)' has an invalid domain '\(domain)'")
        }
        if local == "*" {
            if domain.hasPrefix("*.") {
                self = .subdomains(String(domain.dropFirst(2)))
            } else {
                self = .domain(domain)
            }
            return
        }
        guard !domain.contains("*") else {
            throw ParseError(description:
                "'\(trimmed)': a wildcard domain needs a wildcard local part ('*@*.domain')")
        }
        guard !local.isEmpty, !local.contains("*") || local.hasPrefix("\"") else {
            throw ParseError(description:
                "'\(trimmed)': only '*' alone is allowed as a wildcard local part ('*@domain')")
        }
        self = .address(MailAddress.canonical(trimmed))
    }

    /// Whether the envelope sender matches.
    public func matches(_ sender: EnvelopeSender) -> Bool {
        switch self {
        case .any:
            return true
        case .nullSender:
            return sender == .null
        case .domain(let domain):
            guard let canonical = sender.canonicalAddress else { return false }
            return MailAddress.domain(ofCanonical: canonical) == domain
        case .subdomains(let parent):
            guard let canonical = sender.canonicalAddress,
                  let domain = MailAddress.domain(ofCanonical: canonical) else { return false }
            return domain.hasSuffix("." + parent)
        case .address(let address):
            return sender.canonicalAddress == address
        }
    }

    /// `true` when the pattern matches every sender (`*`).
    public var matchesEverySender: Bool { self == .any }

    public var description: String {
        switch self {
        case .any: "*"
        case .nullSender: "<>"
        case .domain(let domain): "*@\(domain)"
        case .subdomains(let parent): "*@*.\(parent)"
        case .address(let address): address
        }
    }

    static func isPlausibleDomain(_ domain: String) -> Bool {
        if domain.hasPrefix("["), domain.hasSuffix("]") { return domain.count > 2 }
        guard !domain.isEmpty, domain.utf8.count <= 253, !domain.hasPrefix("."), !domain.contains("..")
        else { return false }
        return domain.unicodeScalars.allSatisfy { scalar in
            scalar.value > 127 || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                || scalar == "-" || scalar == "." || scalar == "_"
        }
    }
}
