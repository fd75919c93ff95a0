import GraphRelayMIME

/// A message's header section, parsed from a prefix of the message, with the rewrites the relay
/// needs before submitting it to Graph: envelope recipients merged into `Bcc:`, an optional
/// `From:` rewrite, a `Message-ID` when there is none.
///
/// Only the header section is held; the caller streams the body (from
/// ``HeaderBoundaryScanner/HeaderSpan/bodyOffset`` on) untouched after ``bytes``. Fields that
/// are not rewritten keep their exact bytes (8-bit, any charset, original line endings).
public struct MessageHead: Sendable {
    /// The header fields in order (junk lines included as nameless fields).
    public internal(set) var fields: [HeaderField]
    /// The empty line between header and body as it was (`CRLF`, `LF` or nothing).
    public let separator: [UInt8]
    /// `false` when the message ended inside the header section.
    public let bodyFollows: Bool
    /// The line ending used for added or rewritten fields: the message's own (CRLF unless the
    /// header section uses bare LF).
    public let lineEnding: [UInt8]

    /// Builds the head from the start of the message and the span the scanner reported.
    /// `messagePrefix` must contain at least `span.bodyOffset` bytes.
    public init<Bytes: Collection>(messagePrefix: Bytes, span: HeaderBoundaryScanner.HeaderSpan)
    where Bytes.Element == UInt8 {
        let all = Array(messagePrefix.prefix(span.bodyOffset))
        precondition(all.count == span.bodyOffset, "the prefix must contain the whole header section")
        let header = all[0..<span.headerLength]
        self.separator = Array(all[span.headerLength...])
        self.bodyFollows = span.bodyFollows
        self.fields = MessageHead.splitFields(header)
        if let newline = all.firstIndex(of: UInt8(ascii: "\n")) {
            self.lineEnding = newline > 0 && all[newline - 1] == UInt8(ascii: "\r") ? [13, 10] : [10]
        } else {
            self.lineEnding = [13, 10]
        }
    }

    /// Parses the head from a prefix of the message (e.g. its first N KiB).
    ///
    /// - Parameters:
    ///   - messagePrefix: the first bytes of the message.
    ///   - isComplete: `true` if the prefix is the whole message.
    ///   - limit: the largest header section accepted. Default 256 KiB.
    /// - Returns: the head and the offset where the body starts.
    /// - Throws: ``MessageHeadError/headerSectionTooLong(limit:)`` when no empty line ends the
    ///   headers within `limit` bytes; ``MessageHeadError/incomplete(bytesGiven:)`` when the prefix
    ///   ends inside the header section and `isComplete` is `false`.
    public static func parse<Bytes: Collection>(
        _ messagePrefix: Bytes,
        isComplete: Bool,
        limit: Int = 256 * 1024
    ) throws(MessageHeadError) -> (head: MessageHead, bodyOffset: Int) where Bytes.Element == UInt8 {
        switch HeaderBoundaryScanner.outcome(of: messagePrefix, isComplete: isComplete, limit: limit) {
        case .needMoreData:
            throw .incomplete(bytesGiven: messagePrefix.count)
        case .tooLong(let limit):
            throw .headerSectionTooLong(limit: limit)
        case .complete(let span):
            return (MessageHead(messagePrefix: messagePrefix, span: span), span.bodyOffset)
        }
    }

    /// The new header section: the fields followed by the separator. Write these bytes in place
    /// of the message's first `bodyOffset` bytes. Unchanged input gives identical bytes.
    public var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(fields.reduce(0) { $0 + $1.raw.count } + 2)
        for field in fields { result.append(contentsOf: field.raw) }
        if !separator.isEmpty {
            result.append(contentsOf: separator)
        } else if bodyFollows && !fields.isEmpty {
            // The message had no header section; one now exists and must end with an empty line.
            result.append(contentsOf: lineEnding)
        }
        return result
    }

    /// The fields with this name (ASCII case-insensitive).
    public func fields(named name: String) -> [HeaderField] {
        fields.filter { $0.hasName(name) }
    }

    /// Every mailbox in `To`, `Cc` and `Bcc` (all occurrences), in order.
    public var headerRecipients: [MailAddress] {
        fields.filter { $0.hasName("To") || $0.hasName("Cc") || $0.hasName("Bcc") }
            .flatMap { AddressListParser.parse($0.unfoldedValue) }
    }

    /// The mailboxes of the first `From` field.
    public var fromAddresses: [MailAddress] {
        fields(named: "From").first.map { AddressListParser.parse($0.unfoldedValue) } ?? []
    }

    /// The `Message-ID` value (e.g. `<abc@host>`), `nil` when absent or empty.
    public var messageID: String? {
        for field in fields(named: "Message-ID") {
            let value = field.valueText
            if !value.isEmpty { return value }
        }
        return nil
    }

    // MARK: Editing helpers

    /// Appends a field at the end of the header section (after making sure the last field ends
    /// with a line ending).
    mutating func appendField(name: String, value: [UInt8]) {
        if let last = fields.last, last.lineEndingLength == 0 {
            fields[fields.count - 1] = HeaderField(raw: last.raw + lineEnding)
        }
        fields.append(HeaderField(raw: Array(name.utf8) + Array(": ".utf8) + value + lineEnding))
    }

    mutating func replaceField(at index: Int, raw: [UInt8]) {
        fields[index] = HeaderField(raw: raw)
    }

    mutating func removeFields(where predicate: (HeaderField) -> Bool) -> Int {
        let before = fields.count
        fields.removeAll(where: predicate)
        return before - fields.count
    }

    static func splitFields(_ header: ArraySlice<UInt8>) -> [HeaderField] {
        MIMEHeaderField.ranges(in: header).map { HeaderField(raw: Array(header[$0])) }
    }
}

/// Why a header section could not be parsed.
public enum MessageHeadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No empty line ends the header section within `limit` bytes.
    case headerSectionTooLong(limit: Int)
    /// The bytes given end inside the header section.
    case incomplete(bytesGiven: Int)

    public var description: String {
        switch self {
        case .headerSectionTooLong(let limit):
            "header block longer than \(limit) bytes (no empty line ends the header section within the first \(limit) bytes)"
        case .incomplete(let count):
            "the header block continues beyond the \(count) bytes given"
        }
    }
}
