import Foundation
import GraphRelayMIME

/// What to change in a message's header section before it goes to Graph.
public struct HeaderRewriteOptions: Sendable, Hashable {
    /// The envelope recipients (RCPT TO addresses, with or without `<>`). Those not already in
    /// `To`/`Cc`/`Bcc` are added to `Bcc:`. Default none.
    public var envelopeRecipients: [String]
    /// Rewrite `From:` to this mailbox (the route's `rewriteFrom`). Default `nil` (leave `From:`).
    public var rewriteFrom: String?
    /// Add a `Message-ID` with this domain if the message has none. Default `nil` (do not add).
    public var messageIDDomain: String?

    public init(envelopeRecipients: [String] = [], rewriteFrom: String? = nil, messageIDDomain: String? = nil) {
        self.envelopeRecipients = envelopeRecipients
        self.rewriteFrom = rewriteFrom
        self.messageIDDomain = messageIDDomain
    }
}

/// The outcome of merging envelope recipients into the header.
public struct RecipientMerge: Sendable, Hashable {
    /// Envelope recipients that were added to `Bcc:` (as given, without `<>`).
    public var addedToBcc: [String] = []
    /// Addresses in `To`/`Cc`/`Bcc` that are not envelope recipients. Graph will send to them
    /// anyway (it reads only the header); worth a log line.
    public var headerOnlyRecipients: [String] = []
    /// `true` when an existing `Bcc:` field was extended, `false` when a new one was added (or
    /// nothing was added).
    public var extendedExistingBcc = false

    public init() {}
}

/// The outcome of a `From:` rewrite.
public struct FromRewrite: Sendable, Hashable {
    /// The `From:` value before (unfolded, trimmed), `nil` if there was none.
    public var originalValue: String?
    /// The new `From:` value, e.g. `"scanner at printer.local" <noreply@contoso.com>`.
    public var newValue: String
    /// `false` when `From:` already was the mailbox with a safe display name.
    public var changed: Bool
    /// How many `Sender:` fields were removed (they would name the device, not the mailbox).
    public var removedSenderFields: Int
}

/// Everything ``MessageHead/rewrite(_:)`` did, for logging.
public struct HeaderRewriteResult: Sendable, Hashable {
    public var recipients: RecipientMerge
    public var from: FromRewrite?
    /// The message's `Message-ID` after the rewrite (`nil` only when none existed and no domain
    /// was given).
    public var messageID: String?
    /// `true` when the `Message-ID` was added.
    public var addedMessageID: Bool
}

extension MessageHead {
    /// Applies all rewrites: `From:` first, then the `Bcc:` merge, then the `Message-ID`.
    /// Read the new header section from ``bytes`` afterwards.
    @discardableResult
    public mutating func rewrite(_ options: HeaderRewriteOptions) -> HeaderRewriteResult {
        let from = options.rewriteFrom.map { rewriteFrom(to: $0) }
        let recipients = mergeEnvelopeRecipients(options.envelopeRecipients)
        var messageID = self.messageID
        var added = false
        if let domain = options.messageIDDomain {
            (messageID, added) = addMessageIDIfMissing(domain: domain)
        }
        return HeaderRewriteResult(recipients: recipients, from: from, messageID: messageID, addedMessageID: added)
    }

    // MARK: Recipients

    /// Adds every envelope recipient not among the `To`/`Cc`/`Bcc` addresses (compared as
    /// ``MailAddress/canonical(_:)``) to `Bcc:`: appended to the first existing `Bcc:` field
    /// (its entries kept byte for byte), or in a new `Bcc:` field at the end of the header.
    /// Duplicate envelope recipients are added once. Long lists are folded at 78 columns.
    @discardableResult
    public mutating func mergeEnvelopeRecipients(_ recipients: [String]) -> RecipientMerge {
        var merge = RecipientMerge()
        let headerAddresses = headerRecipients
        let inHeader = Set(headerAddresses.map(\.canonical))
        var envelope = Set<String>()
        var missing: [String] = []
        for recipient in recipients {
            var address = recipient.trimmingASCIIWhitespace()
            if address.hasPrefix("<"), address.hasSuffix(">"), address.count >= 2 {
                address = String(address.dropFirst().dropLast())
            }
            let canonical = MailAddress.canonical(address)
            guard !canonical.isEmpty, envelope.insert(canonical).inserted else { continue }
            if !inHeader.contains(canonical) { missing.append(address) }
        }
        var reported = Set<String>()
        for address in headerAddresses where !envelope.contains(address.canonical) {
            if reported.insert(address.canonical).inserted { merge.headerOnlyRecipients.append(address.addrSpec) }
        }
        guard !missing.isEmpty else { return merge }
        merge.addedToBcc = missing

        if let index = fields.firstIndex(where: { $0.hasName("Bcc") }) {
            let field = fields[index]
            var raw = Array(field.raw[..<(field.raw.count - field.lineEndingLength)])
            let tokens = AddressListParser.tokenize(field.unfoldedValue[...]).filter { $0.kind != .comment }
            let needsComma = !tokens.isEmpty && tokens.last?.kind != .special(UInt8(ascii: ","))
            if needsComma { raw.append(UInt8(ascii: ",")) }
            let column = raw.count - ((raw.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1)
            raw += foldedList(missing, startColumn: column)
            raw += lineEnding
            replaceField(at: index, raw: raw)
            merge.extendedExistingBcc = true
        } else {
            var value = foldedList(missing, startColumn: "Bcc:".utf8.count)
            if value.first == UInt8(ascii: " ") { value.removeFirst() }
            appendField(name: "Bcc", value: value)
        }
        return merge
    }

    /// `" a@x, b@y"` with folding (line ending + space) before an item that would pass column 78.
    private func foldedList(_ items: [String], startColumn: Int) -> [UInt8] {
        var result: [UInt8] = []
        var column = startColumn
        for (position, item) in items.enumerated() {
            var piece = Array(item.utf8)
            if position < items.count - 1 { piece.append(UInt8(ascii: ",")) }
            if column + 1 + piece.count > 78 && column > 1 {
                result += lineEnding
                column = 0
            }
            result.append(UInt8(ascii: " "))
            result += piece
            column += 1 + piece.count
        }
        return result
    }

    // MARK: From

    /// Rewrites `From:` to `mailbox`, keeping the original display name:
    /// - a display name is kept byte for byte, unless it contains `@` anywhere (also inside
    ///   quotes or RFC 2047 words): then it is decoded and every `@` becomes ` at `;
    /// - without a display name, a trailing comment (`scanner@printer.local (Scanner 2)`) is used,
    ///   else the original address with `@` as ` at ` (`"scanner at printer.local"`), so the
    ///   recipient still sees which device sent it;
    /// - constructed names are a quoted string if ASCII, else RFC 2047 UTF-8 words.
    /// Further `From:` fields are removed, and so are `Sender:` fields (they would name the
    /// device and make Exchange check send-on-behalf rights). A message without `From:` gets one.
    /// If `From:` already is exactly this mailbox with a safe display name, nothing changes.
    @discardableResult
    public mutating func rewriteFrom(to mailbox: String) -> FromRewrite {
        let fromIndices = fields.indices.filter { fields[$0].hasName("From") }
        let originalValue = fromIndices.first.map { fields[$0].valueText }
        let addresses = fromAddresses
        let first = addresses.first
        let target = MailAddress.canonical(mailbox)

        var display: String?
        var keepRawDisplay: [UInt8]?
        if let first, let raw = first.rawDisplayName {
            if MessageHead.phraseContainsAt(raw) {
                display = MessageHead.safeDisplayName(first.displayName ?? "")
            } else {
                keepRawDisplay = raw
            }
        } else if let first, let comment = first.comment, !comment.contains("=?") {
            display = MessageHead.safeDisplayName(comment)
        } else if let first, !first.addrSpec.contains("@") {
            // Not an address at all (`From: "Canon iR-ADV" <>`, `From: root`): a name.
            display = MessageHead.safeDisplayName(AddressListParser.decodePhrase(Array(first.addrSpec.utf8)[...]))
        } else if let first, first.canonical != target {
            display = MessageHead.safeDisplayName(first.addrSpec)
        }

        var value: [UInt8]
        if let keepRawDisplay {
            value = keepRawDisplay + Array(" <\(mailbox)>".utf8)
        } else if let display {
            value = Array("\(display) <\(mailbox)>".utf8)
        } else {
            value = Array(mailbox.utf8)
        }

        let alreadyDone = fromIndices.count == 1 && addresses.count == 1 && first?.canonical == target
            && display == nil && (first?.rawDisplayName == nil || keepRawDisplay != nil)
        var removedSender = 0
        if !alreadyDone {
            if let firstIndex = fromIndices.first {
                let nameBytes = fields[firstIndex].nameBytes ?? Array("From".utf8)
                replaceField(at: firstIndex, raw: nameBytes + Array(": ".utf8) + value + lineEnding)
                for index in fromIndices.dropFirst().reversed() { fields.remove(at: index) }
            } else {
                appendField(name: "From", value: value)
            }
            removedSender = removeFields { $0.hasName("Sender") }
        } else {
            value = Array(fields[fromIndices[0]].valueText.utf8)
        }
        return FromRewrite(
            originalValue: originalValue,
            newValue: String(decoding: value, as: UTF8.self),
            changed: !alreadyDone,
            removedSenderFields: removedSender
        )
    }

    /// Whether a display-name phrase contains `@` once quoted strings, comments and RFC 2047
    /// words are decoded.
    static func phraseContainsAt(_ raw: [UInt8]) -> Bool {
        let at = UInt8(ascii: "@")
        for token in AddressListParser.tokenize(raw[...]) {
            let slice = raw[token.range]
            switch token.kind {
            case .encodedWord:
                if let word = EncodedWord(slice) {
                    if word.bytes.contains(at) { return true }
                } else if slice.contains(at) {
                    return true
                }
            case .quoted, .comment:
                if AddressListParser.unquote(slice).contains(at) { return true }
            case .atom, .domainLiteral, .special:
                if slice.contains(at) { return true }
            }
        }
        return false
    }

    /// A display name safe to put before `<mailbox>`: `@` replaced by ` at `, whitespace
    /// collapsed, quoted (ASCII) or RFC 2047-encoded (non-ASCII); `nil` when empty.
    static func safeDisplayName(_ text: String) -> String? {
        let replaced = text.replacingOccurrences(of: "@", with: " at ")
        let collapsed = replaced.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
            .joined(separator: " ")
        guard !collapsed.isEmpty else { return nil }
        if collapsed.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 32 && $0.value != 127 }) {
            var quoted = "\""
            for character in collapsed {
                if character == "\"" || character == "\\" { quoted.append("\\") }
                quoted.append(character)
            }
            return quoted + "\""
        }
        let printable = String(String.UnicodeScalarView(collapsed.unicodeScalars.filter { $0.value >= 32 && $0.value != 127 }))
        return EncodedWord.encode(printable)
    }

    // MARK: Message-ID

    /// Adds `Message-ID: <unique@domain>` if the message has none (or only an empty one).
    ///
    /// - Parameter domain: the right-hand side, normally `smtp.hostname`; an unusable value
    ///   (empty, with blanks or specials) is replaced by `graph-relay.invalid`.
    /// - Returns: the message's Message-ID after the call and whether it was added.
    @discardableResult
    public mutating func addMessageIDIfMissing(domain: String) -> (messageID: String, added: Bool) {
        if let existing = messageID { return (existing, false) }
        let id = MessageHead.makeMessageID(domain: domain)
        if let emptyIndex = fields.firstIndex(where: { $0.hasName("Message-ID") }) {
            let nameBytes = fields[emptyIndex].nameBytes ?? Array("Message-ID".utf8)
            replaceField(at: emptyIndex, raw: nameBytes + Array(": \(id)".utf8) + lineEnding)
        } else {
            appendField(name: "Message-ID", value: Array(id.utf8))
        }
        return (id, true)
    }

    /// A new globally unique Message-ID, `<time.random@domain>` (128 random bits).
    public static func makeMessageID(domain: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<2).map { _ in String(generator.next() as UInt64, radix: 36) }.joined(separator: ".")
        let milliseconds = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        let host = domain.trimmingASCIIWhitespace().lowercased()
        let usable = !host.isEmpty && host.utf8.count <= 253 && host.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "."
        } && !host.hasPrefix(".") && !host.hasSuffix(".") && !host.contains("..")
        return "<\(String(milliseconds, radix: 36)).\(random)@\(usable ? host : "graph-relay.invalid")>"
    }
}
