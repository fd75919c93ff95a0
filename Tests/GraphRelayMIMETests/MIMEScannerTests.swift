import GraphRelayMIME
import NIOCore
import Testing

@Suite("MIME scanner: the structure of a message in one streaming pass")
struct MIMEScannerTests {
    @Test("a scan-to-email message: nested multiparts, every part's headers, ranges and decoded size")
    func scannerMessage() throws {
        let pdf1 = MIMEFixtures.bytes(70_000, seed: 1)
        let pdf2 = MIMEFixtures.bytes(50_001, seed: 2)
        let logo = MIMEFixtures.bytes(3000, seed: 7)
        let message = Array(MIMEFixtures.scannerMessage(pdf1: pdf1, pdf2: pdf2, logo: logo).utf8)
        let structure = MIMEFixtures.scan(message)
        #expect(structure.problems == [])
        #expect(structure.size == message.count)
        let types = structure.entities.map(\.contentType.value)
        #expect(types == ["multipart/mixed", "multipart/related", "multipart/alternative", "text/plain", "text/html", "image/png",
                          "application/pdf", "application/pdf"])
        #expect(structure.entities.map(\.parent) == [nil, 0, 1, 2, 2, 1, 0, 0])
        #expect(structure.root.children == [1, 6, 7])
        #expect(structure.header("subject")?.text == "=?UTF-8?B?U2NhbiDigJMgMjAyNg==?=")

        let text = structure.entities[3]
        #expect(MIMEFixtures.text(message, text.bodyRange) == "Scan attached =E2=80=93 two documents.")
        #expect(try MIMEFixtures.decoded(text, in: message) == Array("Scan attached – two documents.".utf8))
        #expect(text.decodedSize == "Scan attached – two documents.".utf8.count)
        #expect(!text.isAttachment && !text.isInline)

        let image = structure.entities[5]
        #expect(image.contentID == "logo@printer" && image.isInline && !image.isAttachment && image.filename == "logo.png")
        #expect(try MIMEFixtures.decoded(image, in: message) == logo)

        let first = structure.entities[6]
        #expect(first.isAttachment && first.filename == "scan 1.pdf" && first.decodedSize == pdf1.count)
        #expect(try MIMEFixtures.decoded(first, in: message) == pdf1)
        #expect(MIMEFixtures.text(message, first.range).hasPrefix("--==outer==\r\nContent-Type: application/pdf"))
        #expect(MIMEFixtures.text(message, first.range.upperBound..<(first.range.upperBound + 11)) == "--==outer==")

        let second = structure.entities[7]
        #expect(second.filename == "Rechnung März.pdf" && second.decodedSize == pdf2.count)
        #expect(try MIMEFixtures.decoded(second, in: message) == pdf2)
        #expect(MIMEFixtures.text(message, second.range.upperBound..<message.count) == "--==outer==--\r\nepilogue\r\n")
        #expect(structure.root.closeDelimiterStart == second.range.upperBound)
    }

    @Test("the same structure whatever the chunk size (a part boundary split anywhere)", arguments: [1, 2, 3, 13, 77, 4096])
    func chunking(size: Int) {
        let message = Array(MIMEFixtures.scannerMessage(pdf1: MIMEFixtures.bytes(5000, seed: 1), pdf2: MIMEFixtures.bytes(999, seed: 2)).utf8)
        #expect(MIMEFixtures.scan(message, chunkSize: size) == MIMEFixtures.scan(message))
    }

    @Test("LF-only line breaks, blanks after a boundary, a part without headers")
    func tolerant() {
        let message = Array("Content-Type: multipart/mixed; boundary=b\n\n--b  \n\nplain body\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n".utf8)
        let structure = MIMEFixtures.scan(message)
        #expect(structure.problems == [])
        #expect(structure.entities.count == 3)
        #expect(MIMEFixtures.text(message, structure.entities[1].bodyRange) == "plain body")
        #expect(structure.entities[1].contentType.value == "text/plain")
        #expect(structure.entities[2].decodedSize == 5 && structure.entities[2].isAttachment)
    }

    @Test("a single-part message, message/rfc822 as a leaf, multipart/digest defaults")
    func leaves() {
        let single = MIMEFixtures.scan("Subject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n")
        #expect(single.entities.count == 1 && single.root.isLeaf && single.root.decodedSize == 5 && single.problems.isEmpty)

        let forwarded = MIMEFixtures.scan("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\ninner\r\n--x--\r\n")
        // The inner message's own boundary line ends the outer part: this is what a reader sees too.
        #expect(forwarded.entities[1].contentType.value == "message/rfc822" && forwarded.entities[1].isLeaf)
        #expect(forwarded.entities[1].isAttachment)

        let digest = MIMEFixtures.scan("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody\r\n--d--\r\n")
        #expect(digest.entities[1].contentType.value == "message/rfc822")
    }

    @Test("malformed: no boundary parameter, boundary never used, missing closing boundary, bad base64, header section too long")
    func malformed() {
        #expect(MIMEFixtures.scan("Content-Type: multipart/mixed\r\n\r\nbody\r\n").problems == [
            "the message (multipart/mixed) has no usable boundary parameter",
        ])
        #expect(MIMEFixtures.scan("Content-Type: multipart/mixed; boundary=b\r\n\r\nno parts here\r\n").problems == [
            "the message (multipart/mixed) has no parts (no line '--b')",
        ])
        let truncated = MIMEFixtures.scan("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n")
        #expect(truncated.problems == ["the message (multipart/mixed) has no closing boundary (the message may be truncated)"])
        #expect(truncated.entities[1].decodedSize == 5)

        let nested = MIMEFixtures.scan("Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\ntext\r\n--o--\r\n")
        #expect(nested.problems == ["part 1 (multipart/alternative) has no closing boundary"])
        #expect(nested.root.closeDelimiterStart != nil)

        let badBase64 = MIMEFixtures.scan("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs*G8=\r\n--b--\r\n")
        #expect(badBase64.problems.isEmpty)
        #expect(badBase64.entities[1].encodingProblem == "invalid base64: byte 0x2A at offset 4")

        var limits = MIMEScanner.Limits()
        limits.maxHeaderSectionSize = 100
        var scanner = MIMEScanner(limits: limits)
        scanner.scan(ByteBuffer(string: "Subject: " + String(repeating: "x", count: 200) + "\r\n\r\nbody\r\n"))
        #expect(scanner.finish().problems == ["the header section of the message (text/plain) is longer than 100 bytes"])
    }

    @Test("a message of headers only, and an empty message")
    func degenerate() {
        let headersOnly = MIMEFixtures.scan("Subject: nothing\r\n")
        #expect(headersOnly.problems.isEmpty && headersOnly.headerFields.count == 1 && headersOnly.root.bodyRange.isEmpty)
        let empty = MIMEFixtures.scan("")
        #expect(empty.entities.count == 1 && empty.size == 0)
    }
}
