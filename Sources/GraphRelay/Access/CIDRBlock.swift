/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a single address).
///
/// Matching is family-aware in both directions: an IPv4 block contains the IPv4-mapped IPv6
/// form of its addresses (`::ffff:10.1.2.3`), and an IPv6 block covering `::ffff:0:0/96`
/// contains plain IPv4 clients. A dual-stack listener therefore needs no extra entries.
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    /// The network address (host bits zero).
    public let network: IPAddress
    /// The prefix length: 0–32 for IPv4, 0–128 for IPv6.
    public let prefixLength: Int

    /// Why a CIDR string was refused; `description` is a complete sentence fragment suitable
    /// after a configuration key path.
    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        case invalidAddress(String)
        case invalidPrefixLength(String, maximum: Int)
        case hostBitsSet(String, suggestion: String)

        public var description: String {
            switch self {
            case .empty:
                return "empty network; expected an address or CIDR block like 10.0.0.0/8 or 2001:db8::/32"
            case .invalidAddress(let text):
                return "'\(text)' is not an IPv4 or IPv6 address (host names are not allowed)"
            case .invalidPrefixLength(let text, let maximum):
                return "'\(text)' has an invalid prefix length (expected 0–\(maximum))"
            case .hostBitsSet(let text, let suggestion):
                return "'\(text)' has host bits set after the prefix; did you mean '\(suggestion)'?"
            }
        }
    }

    /// Parses `a.b.c.d/n`, `x:y::/n`, or a bare address (a /32 or /128 block).
    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty else { throw .empty }
        let addressPart: Substring
        let prefixPart: Substring?
        if let slash = trimmed.firstIndex(of: "/") {
            addressPart = trimmed[..<slash]
            prefixPart = trimmed[trimmed.index(after: slash)...]
        } else {
            addressPart = trimmed[...]
            prefixPart = nil
        }
        guard !addressPart.contains("%"), let address = IPAddress(String(addressPart)) else {
            throw .invalidAddress(String(addressPart))
        }
        let maximum = address.isIPv4 ? 32 : 128
        var length = maximum
        if let prefixPart {
            guard !prefixPart.isEmpty, prefixPart.count <= 3, prefixPart.allSatisfy(\.isASCIIDigit),
                  let parsed = Int(prefixPart), parsed <= maximum
            else { throw .invalidPrefixLength(trimmed, maximum: maximum) }
            length = parsed
        }
        let masked = CIDRBlock.mask(address, prefixLength: length)
        if masked != address {
            throw .hostBitsSet(trimmed, suggestion: "\(masked)/\(length)")
        }
        self.network = masked
        self.prefixLength = length
    }

    /// A block from a network address; host bits are cleared.
    public init(network: IPAddress, prefixLength: Int) {
        let maximum = network.isIPv4 ? 32 : 128
        let length = min(max(prefixLength, 0), maximum)
        self.network = CIDRBlock.mask(network, prefixLength: length)
        self.prefixLength = length
    }

    /// Whether `address` lies in this block (IPv4-mapped IPv6 addresses match IPv4 blocks and
    /// vice versa).
    public func contains(_ address: IPAddress) -> Bool {
        switch network.value {
        case .v4(let net):
            guard let candidate = address.ipv4Value else { return false }
            guard prefixLength > 0 else { return true }
            let mask = UInt32.max << (32 - UInt32(prefixLength))
            return candidate & mask == net
        case .v6(let high, let low):
            let candidate = address.ipv6Value
            let (maskHigh, maskLow) = CIDRBlock.v6Mask(prefixLength)
            return candidate.high & maskHigh == high && candidate.low & maskLow == low
        }
    }

    public var description: String { "\(network)/\(prefixLength)" }

    private static func mask(_ address: IPAddress, prefixLength: Int) -> IPAddress {
        switch address.value {
        case .v4(let value):
            let mask: UInt32 = prefixLength == 0 ? 0 : UInt32.max << (32 - UInt32(prefixLength))
            return IPAddress(.v4(value & mask))
        case .v6(let high, let low):
            let (maskHigh, maskLow) = v6Mask(prefixLength)
            return IPAddress(.v6(high: high & maskHigh, low: low & maskLow))
        }
    }

    private static func v6Mask(_ length: Int) -> (UInt64, UInt64) {
        if length == 0 { return (0, 0) }
        if length <= 64 {
            return (UInt64.max << (64 - UInt64(length)), 0)
        }
        if length == 128 { return (UInt64.max, UInt64.max) }
        return (UInt64.max, UInt64.max << (128 - UInt64(length)))
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs, CR and LF.
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
