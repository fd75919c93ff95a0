import Testing
@testable import GraphRelay
import GraphRelayMIME

@Suite("Message address parsing")
struct MessageAddressParserTests {
    @Test("plain, angle and display-name forms")
    func basic() {
        #expect(addresses("a@example.com") == ["a@example.com"])
        #expect(addresses("<a@example.com>") == ["a@example.com"])
        #expect(addresses("Alice <a@example.com>, b@example.com") == ["a@example.com", "b@example.com"])
        #expect(addresses("\"Doe, John\" <john@example.com>, x@y.z") == ["john@example.com", "x@y.z"])
    }

    @Test("display names decoded: quotes, escapes, RFC 2047 B and Q, adjacent encoded words")
    func displayNames() {
        let parsed = AddressListParser.parse(bytes(
            "\"John \\\"JJ\\\" Doe\" <j@x.y>, =?UTF-8?B?TcO8bGxlcg==?= <m@x.y>, =?iso-8859-1?q?J=F6rg_M=FCller?= <jm@x.y>, "
                + "=?utf-8?q?a?= =?utf-8?q?b?= <ab@x.y>"))
        #expect(parsed.map(\.displayName) == ["John \"JJ\" Doe", "Müller", "Jörg Müller", "ab"])
    }

    @Test("an encoded word containing a comma does not split the list")
    func encodedWordWithComma() {
        #expect(addresses("=?UTF-8?Q?Doe,_John?= <john@example.com>, other@example.com")
            == ["john@example.com", "other@example.com"])
    }

    @Test("comments anywhere, nested, and as the old display-name form")
    func comments() {
        let parsed = AddressListParser.parse(bytes("john@example.com (John (the) Doe), (c) <x@y.z> (trailing), a(x)@b.c"))
        #expect(parsed.map(\.addrSpec) == ["john@example.com", "x@y.z", "a@b.c"])
        #expect(parsed[0].comment == "John (the) Doe")
        #expect(parsed[1].rawDisplayName == nil)
    }

    @Test("groups: empty, with members, undisclosed-recipients")
    func groups() {
        #expect(addresses("undisclosed-recipients:;").isEmpty)
        let parsed = AddressListParser.parse(bytes("Team: a@x.y, B <b@x.y>;, c@x.y"))
        #expect(parsed.map(\.addrSpec) == ["a@x.y", "b@x.y", "c@x.y"])
        #expect(parsed.map(\.group) == ["Team", "Team", nil])
    }

    @Test("obsolete routes and domain literals")
    func obsolete() {
        #expect(addresses("<@relay1,@relay2:user@example.com>") == ["user@example.com"])
        #expect(addresses("user@[192.0.2.1]") == ["user@[192.0.2.1]"])
        #expect(addresses("john . doe @ example . com") == ["john.doe@example.com"])
        #expect(addresses("a(comment)@b.c") == ["a@b.c"])
    }

    @Test("quoted local parts and SMTPUTF8 addresses")
    func quotedAndUTF8() {
        #expect(addresses("\"john doe\"@example.com") == ["\"john doe\"@example.com"])
        #expect(addresses("Jörg <jörg@bücher.de>") == ["jörg@bücher.de"])
        #expect(MailAddress.canonical("\"John\"@Example.COM") == "john@example.com")
        #expect(MailAddress.canonical("<JÖRG@Bücher.DE>") == "jörg@bücher.de")
        #expect(MailAddress.canonical("\"a\\\"b\"@x.y") == "a\"b@x.y")
        #expect(MailAddress.canonical("a@example.com.") == "a@example.com")
    }

    @Test("junk is tolerated without crashing: missing brackets, unterminated quotes and comments, stray specials")
    func junk() {
        #expect(addresses("John Doe john@example.com") == ["john@example.com"])
        #expect(addresses("\"unterminated <a@b.c>") == ["a@b.c"])
        #expect(addresses("(unterminated comment a@b.c") == ["a@b.c"])
        #expect(addresses("<a@b.c") == ["a@b.c"])
        #expect(addresses("John Doe <john@x.y") == ["john@x.y"])
        #expect(addresses(",,, a@b.c ,,") == ["a@b.c"])
        #expect(addresses(">>> a@b.c <<<") == ["a@b.c"])
        #expect(addresses("<> a@b.c") == ["a@b.c"])
        #expect(addresses("a@b.c d@e.f") == ["a@b.c", "d@e.f"])
        #expect(addresses("scanner@printer.local <scanner@printer.local>") == ["scanner@printer.local"])
        #expect(addresses("") == [])
        #expect(addresses("   ") == [])
        // Random byte soup: must not crash.
        var generator = SystemRandomNumberGenerator()
        let alphabet = bytes("ab@.<>,;:\"()\\[] =?q_\r\n\t") + [0xC3, 0xFF, 0x00]
        for _ in 0..<2000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let soup = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            _ = AddressListParser.parse(soup)
            _ = MessageHead.phraseContainsAt(soup)
        }
    }

    @Test("8-bit bytes that are not UTF-8 survive parsing")
    func latin1() {
        let raw: [UInt8] = bytes("J") + [0xF6] + bytes("rg <j@x.y>")
        let parsed = AddressListParser.parse(raw)
        #expect(parsed.map(\.addrSpec) == ["j@x.y"])
        #expect(parsed.first?.rawDisplayName == bytes("J") + [0xF6] + bytes("rg"))
    }

    @Test("RFC 2047 encoding splits long names on character boundaries")
    func encode() {
        let long = String(repeating: "Ä", count: 60)
        let encoded = EncodedWord.encode(long)
        let words = encoded.split(separator: " ")
        #expect(words.count > 1)
        #expect(words.allSatisfy { $0.count <= 75 })
        #expect(AddressListParser.decodePhrase(bytes(encoded)[...]) == long)
    }
}
