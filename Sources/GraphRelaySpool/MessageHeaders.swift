/// A minimal reader of an RFC 5322 header block: enough for the spool (Message-ID) and the bounce
/// rules (Auto-Submitted, Content-Type). Unfolds continuation lines; tolerant of bare LF.
public struct MessageHeaders: Sendable {
    /// The fields in order, names as written, values unfolded and trimmed.
    public let fields: [(name: String, value: String)]

    /// Parses the header block at the start of `bytes` (stops at the first empty line).
    public init(_ bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        let end = MessageHeaders.headerBlockLength(bytes) ?? bytes.count
        var fields: [(String, String)] = []
        var lineStart = 0
        var current: (name: String, value: [UInt8])?
        func finish() {
            if let field = current {
                let value = String(decoding: field.value, as: UTF8.self).trimmingWhitespace()
                fields.append((field.name, value))
            }
            current = nil
        }
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            var line = bytes[lineStart..<lineEnd]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            lineStart = lineEnd + 1
            if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                current?.value += line  // unfolding removes the line break only
                continue
            }
            finish()
            if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).trimmingWhitespace()
                if !name.isEmpty { current = (name, Array(line[(colon + 1)...])) }
            }
        }
        finish()
        self.fields = fields
    }

    /// The first value of the named field (case-insensitive), or nil.
    public func value(of name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.name.lowercased() == lower }?.value
    }

    /// The length of the header block including the line break of its last field, excluding the
    /// empty line that ends it; nil if no empty line is found in `bytes`.
    public static func headerBlockLength(_ bytes: [UInt8]) -> Int? {
        if bytes.first == UInt8(ascii: "\n") { return 0 }
        if bytes.count >= 2 && bytes[0] == UInt8(ascii: "\r") && bytes[1] == UInt8(ascii: "\n") { return 0 }
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                let next = index + 1
                if next < bytes.count && bytes[next] == UInt8(ascii: "\n") { return next }
                if next + 1 < bytes.count && bytes[next] == UInt8(ascii: "\r") && bytes[next + 1] == UInt8(ascii: "\n") { return next }
            }
            index += 1
        }
        return nil
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, isSpace(first) { scalars.removeFirst() }
        while let last = scalars.last, isSpace(last) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
