import NIOCore

/// An RFC 2047 encoded word, `=?charset?B|Q?text?=` (an RFC 2231 language suffix
/// `charset*lang` is accepted and ignored).
public struct EncodedWord: Sendable, Hashable {
    /// The charset name, lowercased.
    public let charset: String
    /// The decoded bytes in that charset.
    public let bytes: [UInt8]

    /// The length of an encoded word at the start of `bytes`, or `nil` if there is none there.
    public static func length(at bytes: ArraySlice<UInt8>) -> Int? {
        let start = bytes.startIndex
        guard bytes.count >= 8, bytes[start] == UInt8(ascii: "="), bytes[start + 1] == UInt8(ascii: "?") else {
            return nil
        }
        var index = start + 2
        var questionMarks = 0
        let limit = min(bytes.endIndex, start + 1000)
        while index < limit {
            let byte = bytes[index]
            if byte <= 32 || byte >= 127 { return nil }
            if byte == UInt8(ascii: "?") {
                questionMarks += 1
                if questionMarks == 3 {
                    guard index + 1 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "=") else { return nil }
                    return index + 2 - start
                }
            }
            index += 1
        }
        return nil
    }

    /// Decodes a complete encoded word; `nil` if malformed.
    public init?(_ word: ArraySlice<UInt8>) {
        guard let length = EncodedWord.length(at: word), length == word.count else { return nil }
        let inner = word.dropFirst(2).dropLast(2)
        let parts = inner.split(separator: UInt8(ascii: "?"), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].count == 1 else { return nil }
        var charset = String(decoding: parts[0], as: UTF8.self).lowercased()
        if let star = charset.firstIndex(of: "*") { charset = String(charset[..<star]) }
        switch parts[1].first!.asciiLowercased {
        case UInt8(ascii: "b"):
            guard !parts[2].contains(where: { $0.isBlank || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }),
                let decoded = Base64StreamDecoder.decode(parts[2])
            else { return nil }
            self.bytes = decoded
        case UInt8(ascii: "q"):
            var decoded: [UInt8] = []
            var index = parts[2].startIndex
            let text = parts[2]
            while index < text.endIndex {
                let byte = text[index]
                if byte == UInt8(ascii: "_") {
                    decoded.append(UInt8(ascii: " "))
                } else if byte == UInt8(ascii: "="), index + 2 < text.endIndex,
                          let high = text[index + 1].asciiHexValue, let low = text[index + 2].asciiHexValue {
                    decoded.append(high << 4 | low)
                    index += 2
                } else {
                    decoded.append(byte)
                }
                index += 1
            }
            self.bytes = decoded
        default:
            return nil
        }
        self.charset = charset
    }

    /// The decoded text. UTF-8, US-ASCII, ISO-8859-1/15 and Windows-1252 are converted; other
    /// charsets are read as UTF-8 with invalid bytes replaced.
    public var text: String {
        EncodedWord.decode(bytes, charset: charset)
    }

    public static func decode(_ bytes: [UInt8], charset: String) -> String {
        switch charset {
        case "iso-8859-1", "latin1", "iso_8859-1", "l1", "iso-8859-15", "latin-9":
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case "windows-1252", "cp1252":
            return String(String.UnicodeScalarView(bytes.map { byte in
                if (0x80...0x9F).contains(byte), let scalar = Unicode.Scalar(windows1252High[Int(byte - 0x80)]) {
                    return scalar
                }
                return Unicode.Scalar(byte)
            }))
        default:
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Encodes `text` as one or more UTF-8 B encoded words (each at most 75 characters, split
    /// on character boundaries), separated by spaces.
    public static func encode(_ text: String) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        // 75 - "=?UTF-8?B?".count - "?=".count = 63 base64 characters → 45 bytes (a multiple of 3).
        let maximumChunk = 45
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > maximumChunk, !chunk.isEmpty {
                words.append("=?UTF-8?B?\(base64(chunk))?=")
                chunk = []
            }
            chunk.append(contentsOf: bytes)
        }
        if !chunk.isEmpty || words.isEmpty {
            words.append("=?UTF-8?B?\(base64(chunk))?=")
        }
        return words.joined(separator: " ")
    }


    private static let windows1252High: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ]
}

extension EncodedWord {
    /// Unstructured header text (a `Subject:`, a quoted file name) with its RFC 2047 encoded
    /// words decoded (blanks between adjacent words dropped); other bytes are taken as UTF-8.
    public static func decodeText(_ bytes: [UInt8]) -> String {
        guard bytes.contains(UInt8(ascii: "?")) else { return String(decoding: bytes, as: UTF8.self) }
        var text = ""
        var literal: [UInt8] = []
        var index = 0
        var lastWasWord = false
        while index < bytes.count {
            if let length = EncodedWord.length(at: bytes[index...]), let word = EncodedWord(bytes[index..<(index + length)]) {
                if !(lastWasWord && literal.allSatisfy(\.isBlank)) {
                    text += String(decoding: literal, as: UTF8.self)
                }
                literal = []
                text += word.text
                index += length
                lastWasWord = true
            } else {
                literal.append(bytes[index])
                index += 1
            }
        }
        return text + String(decoding: literal, as: UTF8.self)
    }


    static func base64(_ bytes: [UInt8]) -> String {
        var encoder = Base64StreamEncoder()
        var output = ByteBuffer()
        bytes.withUnsafeBytes { encoder.encode($0, into: &output) }
        encoder.finish(into: &output)
        return String(buffer: output)
    }
}
