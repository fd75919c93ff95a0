/// A header value of the form `value; name=param; …`: `Content-Type` (RFC 2045 §5.1) and
/// `Content-Disposition` (RFC 2183), parsed tolerantly.
///
/// Parameter names are lowercased. RFC 2231 extended and continued parameters (`name*0*=utf-8''…`,
/// `name*1=…`) are joined and decoded, and RFC 2047 encoded words inside a quoted value (what
/// many mailers put in `filename="=?UTF-8?B?…?="`) are decoded too. Comments in parentheses are
/// skipped.
public struct MIMEParameterizedValue: Sendable, Hashable {
    /// The main value, lowercased and without blanks (`multipart/mixed`, `attachment`).
    public var value: String
    /// Parameters by lowercased name.
    public var parameters: [String: String]

    public init(value: String, parameters: [String: String] = [:]) {
        self.value = value
        self.parameters = parameters
    }

    public subscript(parameter name: String) -> String? { parameters[name.lowercased()] }

    /// Parses an unfolded header value.
    public init<Bytes: Collection>(parsing bytes: Bytes) where Bytes.Element == UInt8 {
        var scanner = Scanner(Array(bytes))
        self.value = String(decoding: scanner.readValue(), as: UTF8.self).lowercased()
        var plain: [String: [UInt8]] = [:]
        var sections: [String: [Int: (bytes: [UInt8], encoded: Bool)]] = [:]
        while scanner.skipTo(UInt8(ascii: ";")) {
            guard let (rawName, rawValue) = scanner.readParameter() else { continue }
            let name = String(decoding: rawName, as: UTF8.self).lowercased()
            // name, name*, name*N, name*N*
            var base = Substring(name)
            var encoded = false
            if base.hasSuffix("*") {
                encoded = true
                base = base.dropLast()
            }
            if let star = base.lastIndex(of: "*"), let index = Int(base[base.index(after: star)...]) {
                sections[String(base[..<star]), default: [:]][index] = (rawValue, encoded)
            } else if encoded {
                sections[String(base), default: [:]][0] = (rawValue, true)
            } else if plain[String(base)] == nil {
                plain[String(base)] = rawValue
            }
        }
        var parameters: [String: String] = [:]
        for (name, value) in plain {
            parameters[name] = EncodedWord.decodeText(value)
        }
        // RFC 2231 forms win over the plain ones (they were added for the same reason).
        for (name, parts) in sections {
            var charset = "us-ascii"
            var joined: [UInt8] = []
            for index in parts.keys.sorted() {
                guard let part = parts[index] else { continue }
                var bytes = part.bytes[...]
                if index == parts.keys.min(), part.encoded {
                    // charset'language'text
                    let quotes = bytes.indices.filter { bytes[$0] == UInt8(ascii: "'") }.prefix(2)
                    if quotes.count == 2 {
                        charset = String(decoding: bytes[bytes.startIndex..<quotes.first!], as: UTF8.self).lowercased()
                        bytes = bytes[(quotes.last! + 1)...]
                    }
                }
                joined += part.encoded ? Self.percentDecode(bytes) : Array(bytes)
            }
            parameters[name] = EncodedWord.decode(joined, charset: charset.isEmpty ? "us-ascii" : charset)
        }
        self.parameters = parameters
    }

    static func percentDecode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.endIndex,
                let high = bytes[index + 1].asciiHexValue, let low = bytes[index + 2].asciiHexValue {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }


    /// A cursor over the value's bytes.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipBlanksAndComments() {
            while index < bytes.count {
                let byte = bytes[index]
                if byte.isBlank || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
                    index += 1
                } else if byte == UInt8(ascii: "(") {
                    var depth = 0
                    while index < bytes.count {
                        if bytes[index] == UInt8(ascii: "\\") { index += 2; continue }
                        if bytes[index] == UInt8(ascii: "(") { depth += 1 }
                        if bytes[index] == UInt8(ascii: ")") { depth -= 1 }
                        index += 1
                        if depth == 0 { break }
                    }
                } else {
                    return
                }
            }
        }

        /// The main value: up to the first `;`, without blanks and comments.
        mutating func readValue() -> [UInt8] {
            var value: [UInt8] = []
            while index < bytes.count, bytes[index] != UInt8(ascii: ";") {
                skipBlanksAndComments()
                guard index < bytes.count, bytes[index] != UInt8(ascii: ";") else { break }
                value.append(bytes[index])
                index += 1
            }
            return value
        }

        /// Moves past the next `byte`; false at the end.
        mutating func skipTo(_ byte: UInt8) -> Bool {
            var quoted = false
            while index < bytes.count {
                let current = bytes[index]
                index += 1
                if current == UInt8(ascii: "\"") { quoted.toggle() }
                if current == UInt8(ascii: "\\"), quoted { index += 1; continue }
                if current == byte, !quoted { return true }
            }
            return false
        }

        /// `name = value` (value a token or a quoted string); nil when there is no `=`.
        mutating func readParameter() -> ([UInt8], [UInt8])? {
            skipBlanksAndComments()
            var name: [UInt8] = []
            while index < bytes.count, bytes[index] != UInt8(ascii: "="), bytes[index] != UInt8(ascii: ";") {
                if !bytes[index].isBlank { name.append(bytes[index]) }
                index += 1
            }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "="), !name.isEmpty else { return nil }
            index += 1
            skipBlanksAndComments()
            var value: [UInt8] = []
            if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count { index += 1 }
                    value.append(bytes[index])
                    index += 1
                }
                index += 1
            } else {
                while index < bytes.count, bytes[index] != UInt8(ascii: ";"), !bytes[index].isBlank, bytes[index] != UInt8(ascii: "(") {
                    value.append(bytes[index])
                    index += 1
                }
            }
            return (name, value)
        }
    }
}
