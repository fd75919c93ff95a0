/// A tolerant RFC 5322 address-list parser working on bytes (8-bit safe).
///
/// Handles display names (atoms, quoted strings, RFC 2047 encoded words, even when an encoded
/// word contains a comma), comments (nested), angle addresses with obsolete routes
/// (`<@relay:user@host>`), groups (`undisclosed-recipients:;`, `Team: a@x, b@y;`), domain
/// literals, and common junk: missing angle brackets (`John Doe john@x`), unterminated quotes,
/// comments or angle brackets, stray specials, empty list elements. It never fails: whatever
/// cannot be read as an address is skipped.
enum AddressListParser {
    enum Kind: Equatable {
        case atom
        case quoted
        case comment
        case encodedWord
        case domainLiteral
        case special(UInt8)
    }

    struct Token {
        let kind: Kind
        let range: Range<Int>
    }

    /// Parses an (unfolded) address-list value.
    static func parse(_ bytes: [UInt8]) -> [MailAddress] {
        let tokens = tokenize(bytes[...])
        var parser = ItemParser(bytes: bytes, tokens: tokens)
        return parser.run()
    }

    // MARK: Tokenizer

    static func tokenize(_ bytes: ArraySlice<UInt8>) -> [Token] {
        var tokens: [Token] = []
        var index = bytes.startIndex
        let end = bytes.endIndex
        while index < end {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"), 0..<32, 127:
                index += 1
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                while index < end {
                    if bytes[index] == UInt8(ascii: "\\") { index += 2; continue }
                    if bytes[index] == UInt8(ascii: "\"") { index += 1; break }
                    index += 1
                }
                index = min(index, end)
                tokens.append(Token(kind: .quoted, range: start..<index))
            case UInt8(ascii: "("):
                let start = index
                var depth = 0
                while index < end {
                    let current = bytes[index]
                    if current == UInt8(ascii: "\\") { index += 2; continue }
                    if current == UInt8(ascii: "(") { depth += 1 }
                    if current == UInt8(ascii: ")") {
                        depth -= 1
                        if depth == 0 { index += 1; break }
                    }
                    index += 1
                }
                index = min(index, end)
                tokens.append(Token(kind: .comment, range: start..<index))
            case UInt8(ascii: "["):
                let start = index
                while index < end, bytes[index] != UInt8(ascii: "]") {
                    if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                    index += 1
                }
                index = min(index + 1, end)
                tokens.append(Token(kind: .domainLiteral, range: start..<index))
            case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ":"), UInt8(ascii: ";"), UInt8(ascii: "@"),
                 UInt8(ascii: ","), UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "\\"):
                tokens.append(Token(kind: .special(byte), range: index..<(index + 1)))
                index += 1
            default:
                if let length = EncodedWord.length(at: bytes[index...]) {
                    tokens.append(Token(kind: .encodedWord, range: index..<(index + length)))
                    index += length
                    continue
                }
                let start = index
                while index < end, isAtomByte(bytes[index]) {
                    index += 1
                }
                tokens.append(Token(kind: .atom, range: start..<index))
            }
        }
        return tokens
    }

    static func isAtomByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0...32, 127, UInt8(ascii: "\""), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"),
             UInt8(ascii: ">"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ":"), UInt8(ascii: ";"),
             UInt8(ascii: "@"), UInt8(ascii: "\\"), UInt8(ascii: ","):
            return false
        default:
            return true
        }
    }

    // MARK: Phrase decoding

    /// Decodes a display-name phrase: quoted strings unquoted, encoded words decoded (the
    /// whitespace between two adjacent encoded words dropped), comments dropped, words joined by
    /// single spaces.
    static func decodePhrase(_ bytes: ArraySlice<UInt8>) -> String {
        var result = ""
        var previousWasEncodedWord = false
        for token in tokenize(bytes) {
            let slice = bytes[token.range]
            let text: String
            var isEncodedWord = false
            switch token.kind {
            case .comment:
                continue
            case .quoted:
                text = String(decoding: unquote(slice), as: UTF8.self)
            case .encodedWord:
                if let word = EncodedWord(slice) {
                    text = word.text
                    isEncodedWord = true
                } else {
                    text = String(decoding: slice, as: UTF8.self)
                }
            case .atom, .domainLiteral, .special:
                text = String(decoding: slice, as: UTF8.self)
            }
            if !result.isEmpty && !(isEncodedWord && previousWasEncodedWord) {
                result += " "
            }
            result += text
            previousWasEncodedWord = isEncodedWord
        }
        return result
    }

    /// The content of a quoted string or comment without its delimiters and backslash escapes.
    static func unquote(_ slice: ArraySlice<UInt8>) -> [UInt8] {
        var content = slice
        if let first = content.first, first == UInt8(ascii: "\"") || first == UInt8(ascii: "(") {
            content = content.dropFirst()
            if let last = content.last, last == (first == UInt8(ascii: "\"") ? UInt8(ascii: "\"") : UInt8(ascii: ")")) {
                // A trailing delimiter that is itself escaped belongs to the content.
                var backslashes = 0
                var index = content.endIndex - 2
                while index >= content.startIndex, content[index] == UInt8(ascii: "\\") {
                    backslashes += 1
                    index -= 1
                }
                if backslashes % 2 == 0 { content = content.dropLast() }
            }
        }
        var result: [UInt8] = []
        result.reserveCapacity(content.count)
        var escaped = false
        for byte in content {
            if escaped { result.append(byte); escaped = false; continue }
            if byte == UInt8(ascii: "\\") { escaped = true; continue }
            result.append(byte)
        }
        return result
    }

    // MARK: Items

    private struct ItemParser {
        let bytes: [UInt8]
        let tokens: [Token]
        var index = 0
        var itemStart = 0
        var group: String?
        var results: [MailAddress] = []
        /// Set once the current item produced an angle address.
        var itemDone = false

        init(bytes: [UInt8], tokens: [Token]) {
            self.bytes = bytes
            self.tokens = tokens
        }

        mutating func run() -> [MailAddress] {
            while index < tokens.count {
                let token = tokens[index]
                switch token.kind {
                case .special(UInt8(ascii: ",")):
                    flush()
                    index += 1
                    startItem()
                case .special(UInt8(ascii: ";")):
                    flush()
                    group = nil
                    index += 1
                    startItem()
                case .special(UInt8(ascii: ":")) where group == nil && !itemDone:
                    group = phraseText(itemStart..<index)
                    index += 1
                    startItem()
                case .special(UInt8(ascii: "<")) where !itemDone:
                    parseAngleAddress()
                default:
                    index += 1
                }
            }
            flush()
            return results
        }

        private mutating func startItem() {
            itemStart = index
            itemDone = false
        }

        private func phraseText(_ range: Range<Int>) -> String? {
            guard let raw = rawBytes(range) else { return nil }
            let text = AddressListParser.decodePhrase(raw[...])
            return text.isEmpty ? nil : text
        }

        /// The bytes from the first to the last token in `range`, as written.
        private func rawBytes(_ range: Range<Int>) -> [UInt8]? {
            guard !range.isEmpty else { return nil }
            return Array(bytes[tokens[range.lowerBound].range.lowerBound..<tokens[range.upperBound - 1].range.upperBound])
        }

        private mutating func parseAngleAddress() {
            let displayRange = itemStart..<index
            index += 1  // '<'
            // Obsolete route: <@a,@b:user@host>
            if index < tokens.count, tokens[index].kind == .special(UInt8(ascii: "@")) {
                var probe = index
                while probe < tokens.count, tokens[probe].kind != .special(UInt8(ascii: ":")),
                      tokens[probe].kind != .special(UInt8(ascii: ">")) {
                    probe += 1
                }
                if probe < tokens.count, tokens[probe].kind == .special(UInt8(ascii: ":")) {
                    index = probe + 1
                }
            }
            let specStart = index
            while index < tokens.count {
                let kind = tokens[index].kind
                if kind == .special(UInt8(ascii: ">")) || kind == .special(UInt8(ascii: ",")) || kind == .special(UInt8(ascii: ";")) {
                    break
                }
                index += 1
            }
            let specEnd = index
            if index < tokens.count, tokens[index].kind == .special(UInt8(ascii: ">")) { index += 1 }
            itemDone = true
            // Only addr-spec material counts (comments inside the brackets are dropped).
            let spec = addrSpec(in: specStart..<specEnd, anchoredAtEnd: false)
            guard let spec, !spec.isEmpty else { return }
            var display = rawBytes(displayRange)
            if let raw = display, AddressListParser.decodePhrase(raw[...]).isEmpty { display = nil }
            results.append(MailAddress(addrSpec: spec, rawDisplayName: display, comment: nil, group: group))
        }

        /// Flushes an item without angle brackets: `local@domain (comment)` or a bare word.
        private mutating func flush() {
            defer { itemDone = true }
            guard !itemDone, itemStart < index else { return }
            let range = itemStart..<index
            guard let spec = addrSpec(in: range, anchoredAtEnd: true), !spec.isEmpty else { return }
            let comments = range.filter { tokens[$0].kind == .comment }
            let comment = comments.last.map { last -> String in
                String(decoding: AddressListParser.unquote(bytes[tokens[last].range]), as: UTF8.self)
                    .trimmingASCIIWhitespace()
            }
            results.append(MailAddress(addrSpec: spec, rawDisplayName: nil,
                                       comment: comment?.isEmpty == false ? comment : nil, group: group))
        }

        /// The addr-spec in a token range: the contiguous words before the last `@` and the
        /// contiguous domain after it; or a lone word when there is no `@`.
        private func addrSpec(in range: Range<Int>, anchoredAtEnd: Bool) -> String? {
            let candidates = range.filter {
                switch tokens[$0].kind {
                case .atom, .quoted, .encodedWord, .domainLiteral, .special(UInt8(ascii: "@")): true
                default: false
                }
            }
            guard !candidates.isEmpty else { return nil }
            if let at = candidates.last(where: { tokens[$0].kind == .special(UInt8(ascii: "@")) }) {
                // Local part: words ending at the @, contiguous (no blank between them).
                var localFirst = at
                var probe = at - 1
                while probe >= range.lowerBound, isWord(tokens[probe].kind),
                      tokens[probe].range.upperBound == tokens[localFirst].range.lowerBound
                      || (probe == at - 1) {
                    localFirst = probe
                    probe -= 1
                }
                var domainLast = at
                probe = at + 1
                while probe < range.upperBound, tokens[probe].kind == .atom || tokens[probe].kind == .domainLiteral,
                      probe == at + 1 || tokens[probe].range.lowerBound == tokens[domainLast].range.upperBound {
                    domainLast = probe
                    probe += 1
                }
                let local = localFirst < at
                    ? String(decoding: bytes[tokens[localFirst].range.lowerBound..<tokens[at - 1].range.upperBound], as: UTF8.self)
                    : ""
                let domain = domainLast > at
                    ? String(decoding: bytes[tokens[at + 1].range.lowerBound..<tokens[domainLast].range.upperBound], as: UTF8.self)
                    : ""
                if local.isEmpty && domain.isEmpty { return nil }
                return local + "@" + domain
            }
            // No @: a bare local word (`root`, `undisclosed-recipients`).
            let words = candidates.filter { isWord(tokens[$0].kind) }
            guard let last = words.last else { return nil }
            return String(decoding: bytes[tokens[last].range], as: UTF8.self)
        }

        private func isWord(_ kind: Kind) -> Bool {
            kind == .atom || kind == .quoted
        }
    }
}
