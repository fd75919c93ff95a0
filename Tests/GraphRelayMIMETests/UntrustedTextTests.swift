import GraphRelayMIME
import Testing

@Suite("Untrusted text for logs and terminals")
struct UntrustedTextTests {
    @Test("CR, LF, ESC, NUL and the other controls are written visibly; printable text of any script stays")
    func escapes() {
        #expect(UntrustedText.escaped("scanner@contoso.com") == "scanner@contoso.com")
        #expect(UntrustedText.escaped("Müller 東京") == "Müller 東京")
        #expect(UntrustedText.escaped("a\r\nb") == "a\\r\\nb")
        #expect(UntrustedText.escaped("\u{1B}[31mred") == "\\x1B[31mred")
        #expect(UntrustedText.escaped("x\0y\ty\u{7F}") == "x\\0y\\ty\\x7F")
        #expect(UntrustedText.escaped("DOMAIN\\user") == "DOMAIN\\\\user")
        #expect(UntrustedText.escaped("\u{85}\u{9B}") == "\\u{85}\\u{9B}")
        #expect(UntrustedText.escaped("file\u{202E}fdp.exe") == "file\\u{202E}fdp.exe")
        #expect(UntrustedText.escaped(bytes: [0x61, 0xFF, 0x0A]) == "a\u{FFFD}\\n")
    }

    @Test("the result never contains a control character", arguments: [
        "\r", "\n", "\u{1B}]0;title\u{07}", "\0\0", "\u{2028}", String(decoding: (0...0x9F).map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self),
    ])
    func noControls(_ text: String) {
        let escaped = UntrustedText.escaped(text)
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{2028}" })
    }
}
