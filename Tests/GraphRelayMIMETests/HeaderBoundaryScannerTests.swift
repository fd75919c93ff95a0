import Testing
import GraphRelayMIME

@Suite("Message header boundary")
struct HeaderBoundaryScannerTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    typealias Span = HeaderBoundaryScanner.HeaderSpan

    @Test("CRLF message: header ends before the empty line, body after it")
    func crlf() {
        var scanner = HeaderBoundaryScanner()
        let message = bytes("Subject: hi\r\nTo: a@b.c\r\n\r\nbody\r\n")
        #expect(scanner.scan(message) == .complete(Span(headerLength: 24, bodyOffset: 26, bodyFollows: true)))
    }

    @Test("bare LF message")
    func bareLF() {
        var scanner = HeaderBoundaryScanner()
        #expect(scanner.scan(bytes("Subject: hi\n\nbody\n")) == .complete(Span(headerLength: 12, bodyOffset: 13, bodyFollows: true)))
    }

    @Test("mixed line endings: CRLF fields then a bare LF empty line")
    func mixed() {
        var scanner = HeaderBoundaryScanner()
        #expect(scanner.scan(bytes("A: 1\r\nB: 2\n\nx")) == .complete(Span(headerLength: 11, bodyOffset: 12, bodyFollows: true)))
    }

    @Test("the end of headers is found however the input is split, down to one byte per chunk")
    func splitAnywhere() {
        let message = bytes("Subject: split\r\nTo: x@y.z\r\n folded\r\n\r\nbody")
        var whole = HeaderBoundaryScanner()
        let expected = whole.scan(message)
        #expect(expected == .complete(Span(headerLength: 36, bodyOffset: 38, bodyFollows: true)))
        for cut in 1..<message.count {
            var scanner = HeaderBoundaryScanner()
            #expect(scanner.scan(message[..<cut]) == .needMoreData || cut >= 38, "cut \(cut)")
            #expect(scanner.scan(message[cut...]) == expected, "cut \(cut)")
        }
        var scanner = HeaderBoundaryScanner()
        var outcome = HeaderBoundaryScanner.Outcome.needMoreData
        for byte in message { outcome = scanner.scan(CollectionOfOne(byte)) }
        #expect(outcome == expected)
    }

    @Test("CR LF split between chunks at the empty line")
    func splitInsideSeparator() {
        var scanner = HeaderBoundaryScanner()
        #expect(scanner.scan(bytes("A: 1\r\n\r")) == .needMoreData)
        #expect(scanner.scan(bytes("\nbody")) == .complete(Span(headerLength: 6, bodyOffset: 8, bodyFollows: true)))
    }

    @Test("a first line that is not a field means no header section at all")
    func noHeaderSection() {
        var scanner = HeaderBoundaryScanner()
        #expect(scanner.scan(bytes("Hello world\r\nmore\r\n")) == .complete(Span(headerLength: 0, bodyOffset: 0, bodyFollows: true)))
        var leadingSpace = HeaderBoundaryScanner()
        #expect(leadingSpace.scan(bytes(" Subject: x\r\n\r\n")) == .complete(Span(headerLength: 0, bodyOffset: 0, bodyFollows: true)))
        var fromLine = HeaderBoundaryScanner()
        #expect(fromLine.scan(bytes("From someone@example.com Mon Jan 1\r\n")) == .complete(Span(headerLength: 0, bodyOffset: 0, bodyFollows: true)))
    }

    @Test("obsolete blank before the colon on the first line still counts as a field")
    func obsoleteSpaceBeforeColon() {
        var scanner = HeaderBoundaryScanner()
        #expect(scanner.scan(bytes("Subject : x\r\n\r\n")) == .complete(Span(headerLength: 13, bodyOffset: 15, bodyFollows: true)))
    }

    @Test("a message starting with an empty line has an empty header section")
    func leadingEmptyLine() {
        var crlf = HeaderBoundaryScanner()
        #expect(crlf.scan(bytes("\r\nbody")) == .complete(Span(headerLength: 0, bodyOffset: 2, bodyFollows: true)))
        var lf = HeaderBoundaryScanner()
        #expect(lf.scan(bytes("\nbody")) == .complete(Span(headerLength: 0, bodyOffset: 1, bodyFollows: true)))
    }

    @Test("finish: headers only, no empty line, no body")
    func headersOnly() {
        var scanner = HeaderBoundaryScanner()
        #expect(scanner.scan(bytes("Subject: x\r\nTo: a@b.c")) == .needMoreData)
        #expect(scanner.finish() == .complete(Span(headerLength: 21, bodyOffset: 21, bodyFollows: false)))
        var empty = HeaderBoundaryScanner()
        #expect(empty.finish() == .complete(Span(headerLength: 0, bodyOffset: 0, bodyFollows: false)))
        var undecided = HeaderBoundaryScanner()
        #expect(undecided.scan(bytes("Subject")) == .needMoreData)
        #expect(undecided.finish() == .complete(Span(headerLength: 0, bodyOffset: 0, bodyFollows: true)))
    }

    @Test("a header section longer than the limit is reported as soon as it is certain")
    func tooLong() {
        var scanner = HeaderBoundaryScanner(limit: 100)
        let line = bytes("X-Long: " + String(repeating: "a", count: 50) + "\r\n")
        #expect(scanner.scan(line) == .needMoreData)
        #expect(scanner.scan(line) == .tooLong(limit: 100))
        // Exactly at the limit is fine.
        var exact = HeaderBoundaryScanner(limit: 60)
        #expect(exact.scan(line + bytes("\r\n")) == .complete(Span(headerLength: 60, bodyOffset: 62, bodyFollows: true)))
        // An endless first line without a colon is cut off too.
        var endless = HeaderBoundaryScanner(limit: 10)
        #expect(endless.scan([UInt8](repeating: UInt8(ascii: "a"), count: 11)) == .tooLong(limit: 10))
        var atEnd = HeaderBoundaryScanner(limit: 10)
        _ = atEnd.scan(bytes("Subject: 0123456789"))
        #expect(atEnd.finish() == .tooLong(limit: 10))
    }

    @Test("bare CR inside a line and CR CR LF are content, not an empty line")
    func bareCR() {
        var scanner = HeaderBoundaryScanner()
        #expect(scanner.scan(bytes("A: 1\r\n\r\r\nB: 2\r\n\r\n")) == .complete(Span(headerLength: 15, bodyOffset: 17, bodyFollows: true)))
    }

    @Test("outcome is sticky after completion")
    func sticky() {
        var scanner = HeaderBoundaryScanner()
        let first = scanner.scan(bytes("A: 1\r\n\r\n"))
        #expect(scanner.scan(bytes("B: 2\r\n\r\n")) == first)
        #expect(scanner.finish() == first)
        #expect(scanner.outcome == first)
    }
}
