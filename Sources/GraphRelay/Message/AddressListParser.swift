import GraphRelayMIME

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
                var probe = index + 1
                var closed = false
                while probe < end {
                    if bytes[probe] == UInt8(ascii: "\\") { probe += 2; continue }
                    if bytes[probe] == UInt8(ascii: "\"") { probe += 1; closed = true; break }
                    probe += 1
                }
                if closed {
                    index = probe
                    tokens.append(Token(kind: .quoted, range: start..<index))
                } else {
                    // Unterminated: the quote is junk; read on as if it were not there.
                    tokens.append(Token(kind: .special(byte), range: index..<(index + 1)))
                    index += 1
                }
            case UInt8(ascii: "("):
                let start = index
                var depth = 0
                var probe = index
                var closed = false
                while probe < end {
                    let current = bytes[probe]
                    if current == UInt8(ascii: "\\") { probe += 2; continue }
                    if current == UInt8(ascii: "(") { depth += 1 }
                    if current == UInt8(ascii: ")") {
                        depth -= 1
                        if depth == 0 { probe += 1; closed = true; break }
                    }
                    probe += 1
                }
                if closed {
                    index = probe
                    tokens.append(Token(kind: .comment, range: start..<index))
                } else {
                    tokens.append(Token(kind: .special(byte), range: index..<(index + 1)))
                    index += 1
                }
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
            guard let spec = addrSpecs(in: specStart..<specEnd).last, !spec.isEmpty else {
                // `<>` or junk brackets: the item may still hold a plain address.
                itemDone = false
                return
            }
            var display = rawBytes(displayRange)
            if let raw = display, AddressListParser.decodePhrase(raw[...]).isEmpty { display = nil }
            results.append(MailAddress(addrSpec: spec, rawDisplayName: display, comment: nil, group: group))
        }

        /// Flushes an item without angle brackets: `local@domain (comment)` or a bare word.
        private mutating func flush() {
            defer { itemDone = true }
            guard !itemDone, itemStart < index else { return }
            let range = itemStart..<index
            let specs = addrSpecs(in: range).filter { !$0.isEmpty }
            guard !specs.isEmpty else { return }
            let comments = range.filter { tokens[$0].kind == .comment }
            let comment = comments.last.map { last -> String in
                String(decoding: AddressListParser.unquote(bytes[tokens[last].range]), as: UTF8.self)
                    .trimmingASCIIWhitespace()
            }
            for (position, spec) in specs.enumerated() {
                let isLast = position == specs.count - 1
                results.append(MailAddress(addrSpec: spec, rawDisplayName: nil,
                                           comment: isLast && comment?.isEmpty == false ? comment : nil, group: group))
            }
        }

        /// The addr-specs in a token range: for each `@`, the words before it and the domain
        /// after it (comments and blanks dropped; words separated by blanks are joined only
        /// across a dot, so `John Doe john@x` gives `john@x`, `john . doe @ x . y` gives
        /// `john.doe@x.y`, and `a@x b@y` gives both); or a lone word when there is no `@`.
        private func addrSpecs(in range: Range<Int>) -> [String] {
            let candidates = range.filter {
                switch tokens[$0].kind {
                case .atom, .quoted, .domainLiteral, .special(UInt8(ascii: "@")): true
                default: false
                }
            }
            let ats = candidates.indices.filter { tokens[candidates[$0]].kind == .special(UInt8(ascii: "@")) }
            guard !ats.isEmpty else {
                // No @: a bare local word (`root`, `undisclosed-recipients`).
                guard let last = candidates.last(where: { isWord(tokens[$0].kind) }) else { return [] }
                return [String(decoding: bytes[tokens[last].range], as: UTF8.self)]
            }
            var specs: [String] = []
            var consumedUpTo = -1   // candidate positions up to here belong to the previous domain
            for atPosition in ats {
                var local: [Int] = []
                var position = atPosition - 1
                while position > consumedUpTo, isWord(tokens[candidates[position]].kind) {
                    if let first = local.first, !connected(candidates[position], first) { break }
                    local.insert(candidates[position], at: 0)
                    position -= 1
                }
                var domain: [Int] = []
                position = atPosition + 1
                while position < candidates.count,
                      tokens[candidates[position]].kind == .atom || tokens[candidates[position]].kind == .domainLiteral {
                    if let last = domain.last, !connected(last, candidates[position]) { break }
                    domain.append(candidates[position])
                    position += 1
                }
                consumedUpTo = position - 1
                if local.isEmpty && domain.isEmpty { continue }
                var spec: [UInt8] = []
                for index in local { spec += bytes[tokens[index].range] }
                spec.append(UInt8(ascii: "@"))
                for index in domain { spec += bytes[tokens[index].range] }
                specs.append(String(decoding: spec, as: UTF8.self))
            }
            return specs
        }

        /// Whether two tokens (first before second) belong to the same dot-atom: adjacent, or
        /// separated by blanks/comments with a dot on either side of the gap.
        private func connected(_ first: Int, _ second: Int) -> Bool {
            let a = tokens[first].range, b = tokens[second].range
            if a.upperBound == b.lowerBound { return true }
            return bytes[a.upperBound - 1] == UInt8(ascii: ".") || bytes[b.lowerBound] == UInt8(ascii: ".")
        }

        private func isWord(_ kind: Kind) -> Bool {
            kind == .atom || kind == .quoted
        }
    }
}
