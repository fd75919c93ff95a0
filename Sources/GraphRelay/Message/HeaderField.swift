/// One header field as it appears in the message: its exact bytes (including folded
/// continuation lines and the final line ending) and where its name and value are.
///
/// A line in the header section that is neither a field nor a continuation (junk from a
/// broken generator) is kept as a field with no name, so it passes through unchanged.
public struct HeaderField: Sendable, Hashable {
    /// The exact bytes of the field, continuation lines and final line ending included.
    public let raw: [UInt8]
    /// Bytes of the field name (without trailing blanks before the colon); `nil` for junk lines.
    public let nameBytes: [UInt8]?
    /// Offset in ``raw`` just after the colon (the start of the value).
    public let valueStart: Int
    /// Length of the final line ending in ``raw`` (0, 1 for LF, 2 for CRLF).
    public let lineEndingLength: Int

    /// Splits `raw` (one field) into its parts.
    init(raw: [UInt8]) {
        self.raw = raw
        var ending = 0
        if raw.last == UInt8(ascii: "\n") {
            ending = raw.count >= 2 && raw[raw.count - 2] == UInt8(ascii: "\r") ? 2 : 1
        }
        self.lineEndingLength = ending
        var index = 0
        while index < raw.count, (33...126).contains(raw[index]), raw[index] != UInt8(ascii: ":") {
            index += 1
        }
        let nameEnd = index
        while index < raw.count, raw[index] == UInt8(ascii: " ") || raw[index] == UInt8(ascii: "\t") {
            index += 1
        }
        if nameEnd > 0, index < raw.count, raw[index] == UInt8(ascii: ":") {
            self.nameBytes = Array(raw[0..<nameEnd])
            self.valueStart = index + 1
        } else {
            self.nameBytes = nil
            self.valueStart = raw.count - ending
        }
    }

    /// The field name as text (`nil` for junk lines).
    public var name: String? {
        nameBytes.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether the field's name equals `name`, ignoring ASCII case.
    public func hasName(_ name: String) -> Bool {
        guard let nameBytes else { return false }
        let other = Array(name.utf8)
        guard other.count == nameBytes.count else { return false }
        for (lhs, rhs) in zip(nameBytes, other) where lhs.asciiLowercased != rhs.asciiLowercased {
            return false
        }
        return true
    }

    /// The raw value bytes (after the colon, before the final line ending), still folded.
    public var rawValue: ArraySlice<UInt8> {
        raw[valueStart..<(raw.count - lineEndingLength)]
    }

    /// The value unfolded (RFC 5322 §2.2.3: line endings followed by a blank are removed, the
    /// blank kept). Other bytes are kept as they are, 8-bit included.
    public var unfoldedValue: [UInt8] {
        HeaderField.unfold(rawValue)
    }

    /// The unfolded value as text with leading and trailing blanks removed (invalid UTF-8 is
    /// replaced), for logging and comparisons.
    public var valueText: String {
        String(decoding: unfoldedValue, as: UTF8.self).trimmingASCIIWhitespace()
    }

    static func unfold(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        // Remove every line ending (CRLF or bare LF) inside the value; the blank that starts
        // the continuation line stays. Bare CRs not followed by LF are kept.
        var cleaned: [UInt8] = []
        cleaned.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\r"), index + 1 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "\n") {
                index += 2
                continue
            }
            if byte == UInt8(ascii: "\n") {
                index += 1
                continue
            }
            cleaned.append(byte)
            index += 1
        }
        return cleaned
    }
}

extension UInt8 {
    var asciiLowercased: UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) ? self + 32 : self
    }
}
