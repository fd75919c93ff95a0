/// A mailbox from a header address list (`To`, `Cc`, `Bcc`, `From`): its addr-spec and
/// display name, both as written.
public struct MailAddress: Sendable, Hashable, CustomStringConvertible {
    /// `local@domain` as written, without comments or folding whitespace
    /// (e.g. `"john doe"@example.com`). A mailbox without `@` (`root`) has only a local part.
    public let addrSpec: String
    /// The display-name phrase exactly as written (unfolded, trimmed), RFC 2047 words still
    /// encoded; `nil` when there is none.
    public let rawDisplayName: [UInt8]?
    /// The text of a trailing comment (`john@example.com (John)`), if any.
    public let comment: String?
    /// The group this mailbox was listed in (`Team: a@x, b@y;`), if any.
    public let group: String?

    public init(addrSpec: String, rawDisplayName: [UInt8]? = nil, comment: String? = nil, group: String? = nil) {
        self.addrSpec = addrSpec
        self.rawDisplayName = rawDisplayName
        self.comment = comment
        self.group = group
    }

    /// The lowercased, unquoted form used to compare addresses (see ``canonical(_:)``).
    public var canonical: String { MailAddress.canonical(addrSpec) }

    /// The display name decoded: quoted strings unquoted, RFC 2047 words decoded, comments
    /// dropped, whitespace collapsed. `nil` when there is none.
    public var displayName: String? {
        guard let rawDisplayName else { return nil }
        let decoded = AddressListParser.decodePhrase(rawDisplayName[...])
        return decoded.isEmpty ? nil : decoded
    }

    public var description: String {
        if let displayName { return "\(displayName) <\(addrSpec)>" }
        return addrSpec
    }

    /// The comparison form of an address: surrounding `<>` and blanks removed, the local part
    /// unquoted (`"john"@x` = `john@x`, backslash escapes resolved), everything lowercased
    /// (Unicode-aware, so SMTPUTF8 addresses compare too), a trailing dot of the domain removed.
    ///
    /// Strictly the local part is case-sensitive (RFC 5321 §2.4), but every mailbox Exchange
    /// serves is case-insensitive, and treating it so avoids duplicate deliveries.
    public static func canonical(_ address: String) -> String {
        var text = Substring(address.trimmingASCIIWhitespace())
        if text.hasPrefix("<"), text.hasSuffix(">"), text.count >= 2 {
            text = text.dropFirst().dropLast()
        }
        let bytes = Array(text.utf8)
        // The separating @ is the last one outside quotes.
        var separator: Int?
        var inQuotes = false
        var escaped = false
        for (index, byte) in bytes.enumerated() {
            if escaped { escaped = false; continue }
            if inQuotes && byte == UInt8(ascii: "\\") { escaped = true; continue }
            if byte == UInt8(ascii: "\"") { inQuotes.toggle(); continue }
            if !inQuotes && byte == UInt8(ascii: "@") { separator = index }
        }
        let localBytes = separator.map { bytes[..<$0] } ?? bytes[...]
        var local: [UInt8] = []
        local.reserveCapacity(localBytes.count)
        inQuotes = false
        escaped = false
        for byte in localBytes {
            if escaped { local.append(byte); escaped = false; continue }
            if inQuotes && byte == UInt8(ascii: "\\") { escaped = true; continue }
            if byte == UInt8(ascii: "\"") { inQuotes.toggle(); continue }
            local.append(byte)
        }
        let localText = String(decoding: local, as: UTF8.self).lowercased()
        guard let separator else { return localText }
        var domain = String(decoding: bytes[(separator + 1)...], as: UTF8.self).lowercased()
        if domain.hasSuffix("."), domain.count > 1 { domain.removeLast() }
        return localText + "@" + domain
    }

    /// The domain of a canonical address; `nil` when it has none.
    static func domain(ofCanonical canonical: String) -> String? {
        guard let at = canonical.lastIndex(of: "@") else { return nil }
        return String(canonical[canonical.index(after: at)...])
    }

    /// Whether `address` is a plausible `local@domain` (used to validate configured mailboxes).
    public static func isValidAddrSpec(_ address: String) -> Bool {
        let parsed = AddressListParser.parse(Array(address.utf8))
        guard parsed.count == 1, let only = parsed.first, only.rawDisplayName == nil, only.comment == nil,
              only.addrSpec == address.trimmingASCIIWhitespace(),
              let at = only.addrSpec.lastIndex(of: "@")
        else { return false }
        let local = only.addrSpec[..<at]
        let domain = String(only.addrSpec[only.addrSpec.index(after: at)...])
        return !local.isEmpty && SenderPattern.isPlausibleDomain(domain) && domain.contains(".")
            || (!local.isEmpty && domain.hasPrefix("["))
    }
}
