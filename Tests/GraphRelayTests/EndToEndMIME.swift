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
