import Foundation
import GraphRelayMIME
import Testing

@Suite("Base64 (whole values)")
struct Base64Tests {
    private func decode(_ text: String, alphabet: Base64.Alphabet = .standard, padding: Base64.Padding = .optional, whitespace: Bool = false)
        -> Result<[UInt8], Base64.DecodingError> {
        Array(text.utf8).withUnsafeBytes { Base64.decode($0, alphabet: alphabet, padding: padding, ignoringWhitespace: whitespace) }
    }

    @Test("encodes every length, padded or not, in both alphabets, as Foundation does")
    func encodesLikeFoundation() {
        var bytes: [UInt8] = []
        for length in 0..<70 {
            let reference = Data(bytes).base64EncodedString()
            #expect(Base64.encode(bytes) == reference)
            #expect(Base64.encode(bytes, padded: false) == reference.replacingOccurrences(of: "=", with: ""))
            let url = reference.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            #expect(Base64.encode(bytes, alphabet: .url, padded: false) == url.replacingOccurrences(of: "=", with: ""))
            #expect(Base64.decode(reference) == bytes)
            #expect(Base64.decode(url, alphabet: .url) == bytes)
            bytes.append(UInt8(truncatingIfNeeded: length &* 37 &+ 251))
        }
    }

    @Test("AUTH: padding may be left out but must be right, no blanks, canonical only")
    func strictForAuth() {
        #expect(Base64.decode("AGFsaWNlAHNlY3JldA==") == Array("\u{0}alice\u{0}secret".utf8))
        #expect(Base64.decode("YQ") == Array("a".utf8))
        #expect(Base64.decode("") == [])
        #expect(decode("YQ=") == .failure(.badLength(3)))
        #expect(decode("Y Q==") == .failure(.invalidCharacter(offset: 1)))
        #expect(decode("!!!!") == .failure(.invalidCharacter(offset: 0)))
        #expect(decode("YR==") == .failure(.nonCanonical))
        #expect(decode("YWI") == .success(Array("ab".utf8)))
        #expect(decode("YWJ") == .failure(.nonCanonical))
        #expect(decode("YWJjZ") == .failure(.badLength(5)))
        #expect(Base64.encode(Array("Password:".utf8)) == "UGFzc3dvcmQ6")
    }

    @Test("Graph's MIME bodies: line-wrapped input is accepted, padding is required")
    func wrappedBodies() throws {
        let text = Array(String(repeating: "Subject: x\r\n", count: 20).utf8)
        var wrapped = ""
        for (index, character) in Data(text).base64EncodedString().enumerated() {
            if index > 0 && index % 76 == 0 { wrapped += "\r\n" }
            wrapped.append(character)
        }
        #expect(try decode(wrapped, padding: .required, whitespace: true).get() == text)
        #expect(try decode("Zm9v\nYmE=\n", padding: .required, whitespace: true).get() == Array("fooba".utf8))
        #expect(decode("Zm9v\nYmE=\n", padding: .required) == .failure(.invalidCharacter(offset: 4)))
    }

    @Test("what Graph rejects fails with the offset of the first bad character")
    func failuresNameTheOffset() {
        #expect(decode("Zm9v!", padding: .required, whitespace: true) == .failure(.invalidCharacter(offset: 4)))
        #expect(decode("Zm9vY", padding: .required, whitespace: true) == .failure(.badLength(5)))
        #expect(decode("Zm9vYmE", padding: .required) == .failure(.badLength(7)))
        #expect(decode("Zm=9v", padding: .required, whitespace: true) == .failure(.misplacedPadding(offset: 3)))
        #expect(decode("Z===", padding: .required, whitespace: true) == .failure(.misplacedPadding(offset: 1)))
        #expect(decode("Zm9v-_==", padding: .required, whitespace: true) == .failure(.invalidCharacter(offset: 4)))
        #expect(decode("Zm9v+/==", alphabet: .url) == .failure(.invalidCharacter(offset: 4)))
        #expect("\(Base64.DecodingError.invalidCharacter(offset: 4))" == "invalid base64: a character outside the alphabet at offset 4")
    }
}
