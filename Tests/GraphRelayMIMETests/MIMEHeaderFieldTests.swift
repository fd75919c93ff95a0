import GraphRelayMIME
import Testing

@Suite("Header fields")
struct MIMEHeaderFieldTests {
    @Test("ranges cover the section: one per field with its continuation lines, one per junk line")
    func ranges() {
        let section = Array("Subject: one\r\n two\r\n\tthree\r\nnot a field\nTo: a@b.example".utf8)
        let pieces = MIMEHeaderField.ranges(in: section).map { String(decoding: section[$0], as: UTF8.self) }
        #expect(pieces == ["Subject: one\r\n two\r\n\tthree\r\n", "not a field\n", "To: a@b.example"])
        #expect(MIMEHeaderField.ranges(in: [UInt8]()).isEmpty)
    }

    @Test("split unfolds values, keeps the ranges in the message, and skips what is not a field")
    func split() {
        let section = Array("Subject: one\r\n two\r\nnot a field\r\nX-Empty:\r\n".utf8)
        let fields = MIMEHeaderField.split(section, offset: 100)
        #expect(fields.map(\.name) == ["Subject", "X-Empty"])
        #expect(fields[0].text == "one two" && fields[1].text == "")
        #expect(fields[0].range == 100..<120)
        #expect(fields[1].hasName("x-empty"))
    }
}
