import GraphRelayMIME
import Testing

@Suite("MIME extraction plan: what to take out so the rest fits one request")
struct MIMEExtractionPlanTests {
    @Test("a message that fits is kept whole")
    func fits() throws {
        let structure = MIMEFixtures.scan(MIMEFixtures.scannerMessage(pdf1: [1, 2, 3], pdf2: [4]))
        let plan = try MIMEExtractionPlan.make(structure, budget: structure.size)
        #expect(plan.extracted == [] && plan.remainder == [.original(0..<structure.size)])
    }

    @Test("attachments go first, largest first, only as many as needed; everything else stays byte for byte")
    func attachmentsFirst() throws {
        let pdf1 = MIMEFixtures.bytes(60_000, seed: 1)
        let pdf2 = MIMEFixtures.bytes(40_000, seed: 2)
        let message = Array(MIMEFixtures.scannerMessage(pdf1: pdf1, pdf2: pdf2).utf8)
        let structure = MIMEFixtures.scan(message)
        // Without the larger PDF (about 81 kB of base64) the message fits 70 kB.
        let one = try MIMEExtractionPlan.make(structure, budget: 70_000)
        #expect(one.extracted == [6])
        var rest = MIMEFixtures.remainder(one, of: message)
        #expect(rest.count == one.remainderSize && rest.count <= 70_000)
        var restStructure = MIMEFixtures.scan(rest)
        #expect(restStructure.problems == [])
        #expect(restStructure.entities.map(\.contentType.value) == ["multipart/mixed", "multipart/related", "multipart/alternative",
                                                                   "text/plain", "text/html", "image/png", "application/pdf"])
        #expect(try MIMEFixtures.decoded(restStructure.entities[6], in: rest) == pdf2)
        // The header section and the first parts are the device's bytes.
        let head = structure.entities[6].range.lowerBound
        #expect(Array(rest[0..<head]) == Array(message[0..<head]))

        let both = try MIMEExtractionPlan.make(structure, budget: 10_000)
        #expect(both.extracted == [6, 7])
        rest = MIMEFixtures.remainder(both, of: message)
        restStructure = MIMEFixtures.scan(rest)
        #expect(restStructure.problems == [] && restStructure.leaves.map(\.contentType.value) == ["text/plain", "text/html", "image/png"])
        #expect(MIMEFixtures.text(rest, 0..<rest.count).hasSuffix("--==outer==--\r\nepilogue\r\n"))

        // Then the inline image (the largest other part), then the bodies.
        let image = try MIMEExtractionPlan.make(structure, budget: 2_000)
        #expect(image.extracted == [5, 6, 7])
        let all = try MIMEExtractionPlan.make(structure, budget: 590)
        #expect(all.extracted == [3, 4, 5, 6, 7])
        rest = MIMEFixtures.remainder(all, of: message)
        restStructure = MIMEFixtures.scan(rest)
        // The emptied multipart/alternative gets an empty text part, so the rest is still
        // well-formed MIME (multipart/related keeps the alternative, so it needs none).
        #expect(restStructure.problems == [])
        #expect(restStructure.entities.map(\.contentType.value) == ["multipart/mixed", "multipart/related", "multipart/alternative", "text/plain"])
        #expect(restStructure.leaves.allSatisfy { $0.bodyRange.isEmpty })
    }

    @Test("one huge single part: the header fields stay, the Content-* fields give way to an empty text body")
    func singlePart() throws {
        let body = MIMEFixtures.base64Lines(MIMEFixtures.bytes(9000, seed: 5))
        let message = Array("From: a@b.example\r\nContent-Type: application/pdf; name=x.pdf\r\nSubject: scan\r\nContent-Transfer-Encoding: base64\r\n\r\n\(body)\r\n".utf8)
        let structure = MIMEFixtures.scan(message)
        let plan = try MIMEExtractionPlan.make(structure, budget: 1000)
        #expect(plan.extracted == [0])
        let rest = MIMEFixtures.remainder(plan, of: message)
        #expect(MIMEFixtures.text(rest, 0..<rest.count) == "From: a@b.example\r\nSubject: scan\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
    }

    @Test("malformed, undecodable or unfittable messages are refused with the reason")
    func refusals() {
        let truncated = MIMEFixtures.scan("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\n\r\n" + String(repeating: "x", count: 500))
        #expect(throws: MIMEExtractionPlan.Failure.malformed(["the message (multipart/mixed) has no closing boundary (the message may be truncated)"])) {
            try MIMEExtractionPlan.make(truncated, budget: 100)
        }
        let bad = MIMEFixtures.scan("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n" + String(repeating: "*", count: 500) + "\r\n--b--\r\n")
        #expect(throws: MIMEExtractionPlan.Failure.undecodable(part: 1, reason: "invalid base64: byte 0x2A at offset 0")) {
            try MIMEExtractionPlan.make(bad, budget: 100)
        }
        let headers = MIMEFixtures.scan("Subject: " + String(repeating: "x", count: 500) + "\r\n\r\nbody\r\n")
        #expect(throws: MIMEExtractionPlan.Failure.cannotFit(remainder: 557, budget: 100)) {
            try MIMEExtractionPlan.make(headers, budget: 100)
        }
    }
}
