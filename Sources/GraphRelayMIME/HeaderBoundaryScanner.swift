/// Finds where a message's header section ends, fed the message in chunks as it arrives.
///
/// The header section is everything up to the first empty line (`CRLF CRLF` or bare `LF LF`,
/// also mixed). Irregular input is decided deliberately:
/// - If the first line is not a header field (`Name: value`), the message has no header section
///   at all: ``HeaderSpan/headerLength`` and ``HeaderSpan/bodyOffset`` are 0 (a device that
///   sends just "Hello"). Fields added later are then followed by an inserted empty line.
/// - If the message starts with an empty line, the header section is empty and the body starts
///   after that line.
/// - If the data ends before an empty line (``finish()``), the whole message is header section
///   and there is no body.
///
/// The scanner never buffers: the caller keeps the bytes and uses the offsets reported, which
/// count from the first byte ever scanned. Cost: one pass over the header bytes in total.
public struct HeaderBoundaryScanner: Sendable {
    /// Where the header section ends, as offsets into the message.
    public struct HeaderSpan: Sendable, Hashable {
        /// Bytes of header fields: `[0, headerLength)`.
        public let headerLength: Int
        /// Where the body starts; `[headerLength, bodyOffset)` is the empty separator line
        /// (empty when there is none).
        public let bodyOffset: Int
        /// `false` when the message ended inside the header section (no empty line, no body).
        public let bodyFollows: Bool

        public init(headerLength: Int, bodyOffset: Int, bodyFollows: Bool) {
            self.headerLength = headerLength
            self.bodyOffset = bodyOffset
            self.bodyFollows = bodyFollows
        }

        /// `true` when the message starts with something that is not a header field.
        public var hasNoHeaderSection: Bool { headerLength == 0 && bodyOffset == 0 && bodyFollows }
    }

    /// The outcome of scanning so far.
    public enum Outcome: Sendable, Hashable {
        /// The end of the header section has not been seen yet.
        case needMoreData
        /// The header section ends here.
        case complete(HeaderSpan)
        /// The header section is longer than ``limit`` bytes.
        case tooLong(limit: Int)
    }

    private enum Phase: Sendable {
        case firstLineStart
        case firstLineCR
        case firstLineName
        case firstLineSpace
        case fields
        case done
    }

    /// The largest header section accepted, in bytes (fields, not counting the empty line).
    public let limit: Int
    private var phase = Phase.firstLineStart
    private var offset = 0
    private var lineStart = 0
    private var lineHasContent = false
    private var pendingCR = false
    private var result: Outcome = .needMoreData

    /// - Parameter limit: the largest header section accepted, in bytes. Default 256 KiB.
    public init(limit: Int = 256 * 1024) {
        self.limit = max(limit, 0)
    }

    /// The outcome once decided (`needMoreData` before).
    public var outcome: Outcome { result }

    /// Scans the next chunk. Once the outcome is decided, further chunks are ignored and the same
    /// outcome is returned.
    @discardableResult
    public mutating func scan<Bytes: Sequence>(_ chunk: Bytes) -> Outcome where Bytes.Element == UInt8 {
        guard phase != .done else { return result }
        for byte in chunk {
            consume(byte)
            if phase == .done { break }
        }
        return result
    }

    /// The message ended. Decides the outcome if it was still open: the whole message is header
    /// section (or, if its first line is not a field, all body).
    @discardableResult
    public mutating func finish() -> Outcome {
        switch phase {
        case .done:
            break
        case .firstLineStart:
            decide(.complete(HeaderSpan(headerLength: 0, bodyOffset: 0, bodyFollows: offset > 0)))
        case .firstLineCR, .firstLineName, .firstLineSpace:
            decide(.complete(HeaderSpan(headerLength: 0, bodyOffset: 0, bodyFollows: true)))
        case .fields:
            if offset > limit {
                decide(.tooLong(limit: limit))
            } else {
                decide(.complete(HeaderSpan(headerLength: offset, bodyOffset: offset, bodyFollows: false)))
            }
        }
        return result
    }

    /// The outcome for a message that starts with `bytes`: scanned at once, and finished when
    /// `isComplete` (the bytes are the whole message).
    public static func outcome<Bytes: Sequence>(of bytes: Bytes, isComplete: Bool, limit: Int = 256 * 1024) -> Outcome
    where Bytes.Element == UInt8 {
        var scanner = HeaderBoundaryScanner(limit: limit)
        let outcome = scanner.scan(bytes)
        return outcome == .needMoreData && isComplete ? scanner.finish() : outcome
    }

    private mutating func decide(_ outcome: Outcome) {
        result = outcome
        phase = .done
    }

    private mutating func noHeaderSection() {
        decide(.complete(HeaderSpan(headerLength: 0, bodyOffset: 0, bodyFollows: true)))
    }

    private mutating func consume(_ byte: UInt8) {
        offset += 1
        let isFieldNameByte = (33...126).contains(byte) && byte != UInt8(ascii: ":")
        let isBlank = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
        switch phase {
        case .done:
            return
        case .firstLineStart:
            if byte == UInt8(ascii: "\n") {
                decide(.complete(HeaderSpan(headerLength: 0, bodyOffset: offset, bodyFollows: true)))
            } else if byte == UInt8(ascii: "\r") {
                phase = .firstLineCR
            } else if isFieldNameByte {
                phase = .firstLineName
            } else {
                noHeaderSection()
            }
        case .firstLineCR:
            if byte == UInt8(ascii: "\n") {
                decide(.complete(HeaderSpan(headerLength: 0, bodyOffset: offset, bodyFollows: true)))
            } else {
                noHeaderSection()
            }
        case .firstLineName:
            if byte == UInt8(ascii: ":") {
                phase = .fields
                lineHasContent = true
            } else if isBlank {
                phase = .firstLineSpace
            } else if !isFieldNameByte {
                noHeaderSection()
            }
        case .firstLineSpace:
            if byte == UInt8(ascii: ":") {
                phase = .fields
                lineHasContent = true
            } else if !isBlank {
                noHeaderSection()
            }
        case .fields:
            if byte == UInt8(ascii: "\n") {
                pendingCR = false
                if !lineHasContent {
                    if lineStart > limit {
                        decide(.tooLong(limit: limit))
                    } else {
                        decide(.complete(HeaderSpan(headerLength: lineStart, bodyOffset: offset, bodyFollows: true)))
                    }
                    return
                }
                lineStart = offset
                lineHasContent = false
            } else if byte == UInt8(ascii: "\r") {
                if pendingCR { lineHasContent = true }
                pendingCR = true
            } else {
                pendingCR = false
                lineHasContent = true
            }
        }
        guard phase != .done else { return }
        if offset > limit {
            // The section is too long once a line with content (or the start of the line being
            // read) lies beyond the limit; an empty line could still end it before that.
            if phase != .fields || lineHasContent || lineStart > limit {
                decide(.tooLong(limit: limit))
            }
        }
    }
}
