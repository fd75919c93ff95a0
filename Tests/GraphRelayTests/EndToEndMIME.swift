/// Byte-level helpers for comparing what a client submitted with what Graph received.
enum EndToEndMIME {
    /// Splits `mime` into the relay's leading `Received:` field (with its folded lines) and the
    /// rest. `nil` when the message does not start with `Received: from `.
    static func splitReceived(_ mime: [UInt8]) -> (received: String, rest: [UInt8])? {
        let prefix = Array("Received: from ".utf8)
        guard mime.starts(with: prefix) else { return nil }
        var index = 0
        while true {
            guard let lf = mime[index...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            index = lf + 1
            guard index < mime.count, mime[index] == UInt8(ascii: " ") || mime[index] == UInt8(ascii: "\t") else { break }
        }
        return (String(decoding: mime[..<index], as: UTF8.self), Array(mime[index...]))
    }

    /// `message` with `fields` (each a complete field with its line ending) inserted at the end of
    /// its header section, i.e. before the first empty line.
    static func appendingHeaderFields(_ message: [UInt8], _ fields: String) -> [UInt8] {
        let end = Array("\r\n\r\n".utf8)
        guard let range = firstRange(of: end, in: message) else { return message + Array(fields.utf8) }
        let insertAt = range.lowerBound + 2
        return Array(message[..<insertAt]) + Array(fields.utf8) + Array(message[insertAt...])
    }

    /// `message` with the first occurrence of `old` replaced by `new`.
    static func replacing(_ old: String, with new: String, in message: [UInt8]) -> [UInt8] {
        guard let range = firstRange(of: Array(old.utf8), in: message) else { return message }
        return Array(message[..<range.lowerBound]) + Array(new.utf8) + Array(message[range.upperBound...])
    }

    static func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start..<(start + needle.count) }
        }
        return nil
    }
}

/// Message bytes that print readably in test failures: printable ASCII as is, everything else
/// escaped (`\r`, `\n`, `\xE9`).
struct EndToEndBytes: Equatable, CustomStringConvertible {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var description: String {
        var text = "\""
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\r"): text += "\\r"
            case UInt8(ascii: "\n"): text += "\\n"
            case UInt8(ascii: "\\"): text += "\\\\"
            case UInt8(ascii: "\""): text += "\\\""
            case 0x20..<0x7F: text.append(Character(Unicode.Scalar(byte)))
            default: text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return text + "\""
    }
}
