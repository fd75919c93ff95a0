/// One header field of a MIME entity: its name, its unfolded value and where its bytes are in the
/// message (continuation lines and the final line break included).
public struct MIMEHeaderField: Sendable, Hashable {
    /// The name as written (compare with ``hasName(_:)``).
    public var name: String
    /// The value unfolded (line breaks inside removed), blanks around it kept.
    public var value: [UInt8]
    /// The field's bytes in the message.
    public var range: Range<Int>

    public init(name: String, value: [UInt8], range: Range<Int>) {
        self.name = name
        self.value = value
        self.range = range
    }

    public func hasName(_ other: String) -> Bool {
        name.utf8.count == other.utf8.count && zip(name.utf8, other.utf8).allSatisfy { $0.asciiLowercased == $1.asciiLowercased }
    }

    /// The value as text (invalid UTF-8 replaced), without surrounding blanks.
    public var text: String { String(decoding: value, as: UTF8.self).trimmingBlanks }

    /// Where each field of a header section is: its first line and every continuation line
    /// (one starting with a blank), final line break included. A line that is not a field (no
    /// name and colon) gets a range of its own too, so that the ranges cover the whole section.
    public static func ranges<Bytes: RandomAccessCollection>(in section: Bytes) -> [Range<Bytes.Index>] where Bytes.Element == UInt8 {
        var ranges: [Range<Bytes.Index>] = []
        var start = section.startIndex
        while start < section.endIndex {
            var end = start
            repeat {
                if let newline = section[end...].firstIndex(of: UInt8(ascii: "\n")) {
                    end = section.index(after: newline)
                } else {
                    end = section.endIndex
                }
            } while end < section.endIndex && section[end].isBlank
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }

    /// Splits a header section (the bytes of its lines, starting at `offset` in the message) into
    /// fields. Lines that are neither a field nor a continuation are skipped.
    public static func split(_ section: [UInt8], offset: Int) -> [MIMEHeaderField] {
        var fields: [MIMEHeaderField] = []
        for range in ranges(in: section) {
            let (start, end) = (range.lowerBound, range.upperBound)
            let raw = section[start..<end]
            if let colon = raw.firstIndex(of: UInt8(ascii: ":")),
                raw[raw.startIndex..<colon].allSatisfy({ (33...126).contains($0) || $0.isBlank }),
                colon > raw.startIndex, !raw[raw.startIndex].isBlank {
                let nameBytes = raw[raw.startIndex..<colon].filter { !$0.isBlank }
                let value = raw[(colon + 1)...].filter { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
                fields.append(MIMEHeaderField(name: String(decoding: nameBytes, as: UTF8.self), value: value,
                                              range: (offset + start)..<(offset + end)))
            }
        }
        return fields
    }
}
