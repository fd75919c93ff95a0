/// Small ASCII helpers for the byte-level parsers of this module.
extension UInt8 {
    var asciiLowercased: UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) ? self + 32 : self
    }

    /// Space or horizontal tab (RFC 5322 WSP).
    var isBlank: Bool { self == UInt8(ascii: " ") || self == UInt8(ascii: "\t") }

    /// The value of an ASCII hex digit (either case), nil for any other byte: `%XX`, `=XX`.
    public var asciiHexValue: UInt8? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, CRs and LFs.
    var trimmingBlanks: String {
        let blanks: Set<Character> = [" ", "\t", "\r", "\n"]
        var text = Substring(self)
        while let first = text.first, blanks.contains(first) { text = text.dropFirst() }
        while let last = text.last, blanks.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
