import NIOCore
import Testing
@testable import GraphRelaySMTP

/// What a decoder produced, with consecutive content pieces merged (their split depends on how the
/// input was cut, the content does not).
enum Decoded: Hashable, CustomStringConvertible {
    case line(String, SMTPInboundDecoder.LineDefects)
    case lineTooLong
    case tlsRecord
    case message(String)
    case messageEnd(SMTPInboundDecoder.ContentDefects)
    case chunk(String)
    case chunkEnd(SMTPInboundDecoder.ContentDefects)

    var description: String {
        switch self {
        case .line(let text, let defects): "line(\(text.debugDescription), \(defects.rawValue))"
        case .lineTooLong: "lineTooLong"
        case .tlsRecord: "tlsRecord"
        case .message(let text): "message(\(text.debugDescription))"
        case .messageEnd(let defects): "messageEnd(\(defects.rawValue))"
        case .chunk(let text): "chunk(\(text.debugDescription))"
        case .chunkEnd(let defects): "chunkEnd(\(defects.rawValue))"
        }
    }
}

/// Feeds `input` in `pattern` pieces. `onLine` may switch the decoder's mode after a line, as the
/// session does (returns a mode command for DATA / BDAT lines).
func decode(
    _ input: [UInt8], pattern: FeedPattern, lineEndings: SMTPLineEndings = .strict,
    maximumLineLength: Int = 512, maximumTextLineLength: Int = 1000, startInData: Bool = false
) -> [Decoded] {
    var decoder = SMTPInboundDecoder(lineEndings: lineEndings, maximumLineLength: maximumLineLength, maximumTextLineLength: maximumTextLineLength)
    if startInData {
        decoder.beginMessage()
        decoder.expectData()
    }
    var events: [Decoded] = []
    func append(_ event: Decoded) {
        switch (events.last, event) {
        case (.message(let a)?, .message(let b)):
            events[events.count - 1] = .message(a + b)
        case (.chunk(let a)?, .chunk(let b)):
            events[events.count - 1] = .chunk(a + b)
        default:
            events.append(event)
        }
    }
    for piece in pattern.pieces(of: input) {
        decoder.feed(ByteBuffer(bytes: piece))
        while let event = decoder.next() {
            switch event {
            case .line(let line, let defects):
                let text = String(decoding: line, as: UTF8.self)
                append(.line(text, defects))
                // Act like the session: DATA and BDAT switch modes at once.
                let upper = text.uppercased()
                if upper == "DATA" {
                    decoder.beginMessage()
                    decoder.expectData()
                } else if upper.hasPrefix("BDAT ") {
                    let words = upper.split(separator: " ")
                    decoder.expectChunk(size: Int(words[1])!, last: words.count > 2)
                }
            case .lineTooLong: append(.lineTooLong)
            case .tlsRecord: append(.tlsRecord)
            case .messageData(let buffer): append(.message(buffer.string))
            case .messageEnd(let defects): append(.messageEnd(defects))
            case .chunkData(let buffer): append(.chunk(buffer.string))
            case .chunkEnd(let defects): append(.chunkEnd(defects))
            }
        }
    }
    return events
}

/// An end-of-data look-alike, shown escaped in test output.
struct SmugglingVariant: Sendable, CustomTestStringConvertible {
    var text: String
    var testDescription: String { text.debugDescription }
    /// Contains a bare CR or LF (strict listeners refuse such messages).
    var hasBareLineEnding: Bool { !text.contains("\u{0}") }
}

@Suite("SMTP inbound decoder")
struct SMTPInboundDecoderTests {
    @Test("command lines, whole, byte by byte and in batches", arguments: FeedPattern.allCases)
    func commandLines(pattern: FeedPattern) {
        let events = decode(bytes("EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n"), pattern: pattern)
        #expect(events == [
            .line("EHLO client.example", []), .line("MAIL FROM:<a@b.example>", []), .line("QUIT", []),
        ])
    }

    @Test("a partial line waits for its end", arguments: FeedPattern.allCases)
    func partialLine(pattern: FeedPattern) {
        #expect(decode(bytes("NOOP\r\nHELO x"), pattern: pattern) == [.line("NOOP", [])])
    }

    @Test("bare LF, bare CR and NUL in command lines are reported", arguments: FeedPattern.allCases)
    func commandDefects(pattern: FeedPattern) {
        let events = decode(bytes("HELO a\nHELO b\rc\r\nHELO \u{0}d\r\nHELO e\r\r\n"), pattern: pattern)
        #expect(events == [
            .line("HELO a", .bareLF), .line("HELO b\rc", .bareCR), .line("HELO \u{0}d", .nul), .line("HELO e\r", .bareCR),
        ])
    }

    @Test("command line limit counts the CRLF; longer lines are dropped to their LF", arguments: FeedPattern.allCases)
    func commandLineLimit(pattern: FeedPattern) {
        let fits = String(repeating: "a", count: 510)
        let tooLong = String(repeating: "b", count: 511)
        let huge = String(repeating: "c", count: 5000)
        let events = decode(bytes("\(fits)\r\n\(tooLong)\r\n\(huge)\r\nNOOP\r\n"), pattern: pattern)
        #expect(events == [.line(fits, []), .lineTooLong, .lineTooLong, .line("NOOP", [])])
    }

    @Test("a TLS ClientHello where a command should be")
    func tlsRecord() {
        let clientHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03, 0x0A, 0x0D]
        #expect(decode(clientHello, pattern: .whole) == [.tlsRecord])
        #expect(decode(bytes("EHLO x\r\n") + clientHello, pattern: .byteByByte) == [.line("EHLO x", []), .tlsRecord])
    }

    @Test("DATA: dot-unstuffing, end of data, pipelined command after it", arguments: FeedPattern.allCases)
    func dataBasics(pattern: FeedPattern) {
        let input = "DATA\r\nSubject: hi\r\n\r\n..leading dot\r\n...\r\n.\r\nQUIT\r\n"
        #expect(decode(bytes(input), pattern: pattern) == [
            .line("DATA", []), .message("Subject: hi\r\n\r\n.leading dot\r\n..\r\n"), .messageEnd([]), .line("QUIT", []),
        ])
    }

    @Test("an empty message", arguments: FeedPattern.allCases)
    func emptyMessage(pattern: FeedPattern) {
        #expect(decode(bytes("DATA\r\n.\r\nNOOP\r\n"), pattern: pattern) == [.line("DATA", []), .messageEnd([]), .line("NOOP", [])])
    }

    /// The SMTP smuggling variants (CVE-2023-51764 and relatives) and a NUL before the dot. None
    /// may end the message: the smuggled MAIL command must stay content, and exactly one message
    /// end may be seen, at the real CRLF.CRLF.
    static let smugglingVariants: [SmugglingVariant] = ["\n.\n", "\n.\r\n", "\r.\r", "\r.\r\n", "\r\n.\r", "\r\n.\n", "\r\n\u{0}.\r\n"].map(SmugglingVariant.init)

    @Test("smuggling variants never end a message (strict and normalize)", arguments: smugglingVariants, [SMTPLineEndings.strict, .normalize])
    func smugglingNeverEnds(variant: SmugglingVariant, lineEndings: SMTPLineEndings) {
        let variant = variant.text
        let smuggled = "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSpoofed\r\n"
        let input = "DATA\r\nSubject: first\r\n\r\nbody" + variant + smuggled + ".\r\nQUIT\r\n"
        for pattern in FeedPattern.allCases {
            let events = decode(bytes(input), pattern: pattern, lineEndings: lineEndings)
            let ends = events.filter { if case .messageEnd = $0 { true } else { false } }
            #expect(ends.count == 1, "\(variant.debugDescription) \(pattern)")
            let lines = events.compactMap { if case .line(let text, _) = $0 { text } else { nil } }
            #expect(lines == ["DATA", "QUIT"], "\(variant.debugDescription) \(pattern): \(events)")
            guard case .message(let content)? = events.first(where: { if case .message = $0 { true } else { false } }) else {
                Issue.record("no content")
                continue
            }
            #expect(content.contains("MAIL FROM:<evil@attacker.example>"), "the smuggled command stays content")
        }
    }

    @Test("strict keeps bare line endings as they are and reports them")
    func strictReportsBareEndings() {
        let events = decode(bytes("DATA\r\na\nb\rc\r\n.\r\n"), pattern: .byteByByte)
        #expect(events == [.line("DATA", []), .message("a\nb\rc\r\n"), .messageEnd([.bareLF, .bareCR])])
    }

    @Test("normalize stores bare-LF lines as CRLF lines and keeps lone dots after a bare LF as content", arguments: FeedPattern.allCases)
    func normalizeConverts(pattern: FeedPattern) {
        let events = decode(bytes("DATA\r\nline1\nline2\n..stuffed\n.\nline3\r\n.\r\n"), pattern: pattern, lineEndings: .normalize)
        #expect(events == [
            .line("DATA", []), .message("line1\r\nline2\r\n.stuffed\r\n.\r\nline3\r\n"), .messageEnd(.bareLF),
        ])
    }

    @Test("legacy-lf also ends at LF.LF (documented as smuggling-prone)", arguments: ["\n.\n", "\n.\r\n", "\r\n.\n"])
    func legacyLFEnds(variant: String) {
        let events = decode(bytes("DATA\r\nbody" + variant + "NOOP\r\n"), pattern: .byteByByte, lineEndings: .legacyLF)
        #expect(events == [.line("DATA", []), .message("body\r\n"), .messageEnd(variant.utf8.first == UInt8(ascii: "\r") ? [] : .bareLF), .line("NOOP", [])])
    }

    @Test("legacy-lf still never ends at bare CR variants", arguments: ["\r.\r", "\r.\r\n", "\r\n.\r", "\r\n\u{0}.\r\n"])
    func legacyLFBareCR(variant: String) {
        let events = decode(bytes("DATA\r\nbody" + variant + "NOOP\r\n.\r\n"), pattern: .randomBatches, lineEndings: .legacyLF)
        #expect(events.filter { if case .messageEnd = $0 { true } else { false } }.count == 1)
        #expect(events.last == .messageEnd(events.last.flatMap { if case .messageEnd(let d) = $0 { d } else { nil } } ?? []))
        #expect(!events.contains(.line("NOOP", [])))
    }

    @Test("mixed content (long runs, bare CR and LF, CR runs without LF, dots): the same events however it is cut", arguments: [SMTPLineEndings.strict, .normalize])
    func mixedContentAnyCut(lineEndings: SMTPLineEndings) {
        var generator = SeededGenerator(seed: 7)
        let pieces = ["x", String(repeating: "a", count: 700), "\r", "\n", "\r\n", ".", "\r\r\r", "\n\n", "\u{0}", "\u{7F}"]
        for _ in 0..<20 {
            var body = ""
            for _ in 0..<200 {
                let piece = pieces.randomElement(using: &generator)!
                // Never an end-of-data line inside: no dot right after a line feed.
                if piece == ".", body.isEmpty || body.utf8.last == UInt8(ascii: "\n") { body += "x" }
                body += piece
            }
            let input = bytes("DATA\r\n" + body + "\r\n.\r\nNOOP\r\n")
            let whole = decode(input, pattern: .whole, lineEndings: lineEndings)
            #expect(whole.last == .line("NOOP", []), "\(body.debugDescription)")
            #expect(decode(input, pattern: .byteByByte, lineEndings: lineEndings) == whole, "\(body.debugDescription)")
            #expect(decode(input, pattern: .randomBatches, lineEndings: lineEndings) == whole, "\(body.debugDescription)")
        }
    }

    @Test("a line over the text line limit is reported")
    func longTextLine() {
        let long = String(repeating: "x", count: 1001)
        let fits = String(repeating: "y", count: 1000)
        #expect(decode(bytes("DATA\r\n\(fits)\r\n.\r\n"), pattern: .randomBatches) == [.line("DATA", []), .message(fits + "\r\n"), .messageEnd([])])
        #expect(decode(bytes("DATA\r\n\(long)\r\n.\r\n"), pattern: .randomBatches) == [.line("DATA", []), .message(long + "\r\n"), .messageEnd(.longLine)])
    }

    @Test("BDAT: exactly N octets, no dot handling, then commands again", arguments: FeedPattern.allCases)
    func chunks(pattern: FeedPattern) {
        let input = "BDAT 10\r\n.\r\nQUIT\r\n.BDAT 3 LAST\r\nendNOOP\r\n"
        #expect(decode(bytes(input), pattern: pattern) == [
            .line("BDAT 10", []), .chunk(".\r\nQUIT\r\n."), .chunkEnd([]),
            .line("BDAT 3 LAST", []), .chunk("end"), .chunkEnd([]), .line("NOOP", []),
        ])
    }

    @Test("BDAT: a CR at the end of a chunk pairs with an LF at the start of the next")
    func chunkBoundaryCRLF() {
        let events = decode(bytes("BDAT 2\r\na\rBDAT 2 LAST\r\n\nb"), pattern: .byteByByte)
        #expect(events == [.line("BDAT 2", []), .chunk("a"), .chunkEnd([]), .line("BDAT 2 LAST", []), .chunk("\r\nb"), .chunkEnd([])])
    }

    @Test("BDAT: a CR ending the last chunk is a bare CR")
    func chunkTrailingCR() {
        let events = decode(bytes("BDAT 2 LAST\r\na\r"), pattern: .whole)
        #expect(events == [.line("BDAT 2 LAST", []), .chunk("a\r"), .chunkEnd(.bareCR)])
    }

    @Test("BDAT 0 LAST ends a message at once")
    func emptyLastChunk() {
        #expect(decode(bytes("BDAT 0 LAST\r\nQUIT\r\n"), pattern: .whole) == [.line("BDAT 0 LAST", []), .chunkEnd([]), .line("QUIT", [])])
    }

    @Test("BDAT content is normalized on normalize listeners")
    func chunkNormalize() {
        let events = decode(bytes("BDAT 5 LAST\r\na\nb\r\n"), pattern: .byteByByte, lineEndings: .normalize)
        #expect(events == [.line("BDAT 5 LAST", []), .chunk("a\r\nb\r\n"), .chunkEnd(.bareLF)])
    }

    @Test("discarding buffered input drops pipelined bytes")
    func discard() {
        var decoder = SMTPInboundDecoder(lineEndings: .strict, maximumLineLength: 512, maximumTextLineLength: 1000)
        decoder.feed(ByteBuffer(bytes: bytes("STARTTLS\r\nMAIL FROM:<a@b>\r\nRCPT")))
        #expect(decoder.next() == .line(bytes("STARTTLS"), []))
        #expect(decoder.discardBufferedInput() == 21)
        #expect(decoder.next() == nil)
        decoder.feed(ByteBuffer(bytes: bytes("EHLO x\r\n")))
        #expect(decoder.next() == .line(bytes("EHLO x"), []))
    }
}
