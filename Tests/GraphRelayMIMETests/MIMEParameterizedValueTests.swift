import GraphRelayMIME
import Testing

@Suite("Content-Type and Content-Disposition parameters")
struct MIMEParameterizedValueTests {
    func parse(_ text: String) -> MIMEParameterizedValue {
        MIMEParameterizedValue(parsing: Array(text.utf8))
    }

    @Test("type, quoted and token parameters, comments, case")
    func basics() {
        let value = parse(#" Multipart/Mixed ; boundary="----=_Part_0;x" (comment) ; charset=UTF-8"#)
        #expect(value.value == "multipart/mixed")
        #expect(value[parameter: "boundary"] == "----=_Part_0;x")
        #expect(value[parameter: "Charset"] == "UTF-8")
        #expect(parse(#"attachment; filename="a \"quoted\" name.pdf""#)[parameter: "filename"] == #"a "quoted" name.pdf"#)
    }

    @Test("RFC 2231: extended, continued and mixed parameters; RFC 2047 encoded words in a quoted value")
    func internationalNames() {
        #expect(parse("attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf")[parameter: "filename"] == "Rechnung März.pdf")
        #expect(parse("attachment; filename*0*=iso-8859-1'de'M%E4rz; filename*1=\" 2026.pdf\"")[parameter: "filename"] == "März 2026.pdf")
        #expect(parse("attachment; filename=plain.pdf; filename*=utf-8''%C3%BCber.pdf")[parameter: "filename"] == "über.pdf")
        #expect(parse(#"application/pdf; name="=?UTF-8?B?w7xiZXI=?= =?UTF-8?Q?_2026.pdf?=""#)[parameter: "name"] == "über 2026.pdf")
    }

    @Test("broken values never crash: no value, no '=', unterminated quotes")
    func broken() {
        #expect(parse("").value == "")
        #expect(parse("text/plain; ; =x; name").parameters.isEmpty)
        #expect(parse(#"text/plain; name="unterminated"#)[parameter: "name"] == "unterminated")
    }
}
