import Foundation
import GraphRelayMIME
import NIOCore
import Testing

@Suite("Transfer decoders: base64 and quoted-printable, in chunks")
struct TransferDecoderTests {
    /// Decodes `input` split into chunks of `size` bytes.
    func decode(_ encoding: MIMETransferEncoding, _ input: [UInt8], chunk size: Int) throws -> [UInt8] {
        var decoder = MIMETransferDecoder(encoding)
        var output: ByteBuffer? = ByteBuffer()
        var index = 0
        while index < input.count {
            let end = min(input.count, index + size)
            try input[index..<end].withUnsafeBytes { try decoder.decode($0, into: &output) }
            index = end
        }
        try decoder.finish(into: &output)
        #expect(decoder.outputCount == output!.readableBytes)
        return Array(output!.readableBytesView)
    }

    @Test("base64 with line breaks decodes the same whatever the chunking, and counting agrees", arguments: [1, 2, 3, 5, 76, 4096])
    func base64Chunking(size: Int) throws {
        for count in [0, 1, 2, 3, 4, 57, 1000] {
            let data = MIMEFixtures.bytes(count, seed: UInt64(count))
            let encoded = Array(MIMEFixtures.base64Lines(data).utf8) + [13, 10]
            #expect(try decode(.base64, encoded, chunk: size) == data)
            var counter = Base64StreamDecoder()
            try encoded.withUnsafeBytes { try counter.count($0) }
            var none: ByteBuffer?
            try counter.finish(into: &none)
            #expect(counter.outputCount == count)
        }
    }

    @Test("base64: unpadded final groups are accepted; a lone final character, junk and data after padding are errors")
    func base64Errors() throws {
        #expect(Base64StreamDecoder.decode(Array("aGk".utf8)) == Array("hi".utf8))
        #expect(Base64StreamDecoder.decode(Array("aGVsbG8".utf8)) == Array("hello".utf8))
        #expect(Base64StreamDecoder.decode(Array("aGVsbG8=\r\n".utf8)) == Array("hello".utf8))
        #expect(Base64StreamDecoder.decode(Array("aA==\r\n".utf8)) == Array("h".utf8))
        #expect(Base64StreamDecoder.decode(Array("=".utf8)) == nil)
        #expect(Base64StreamDecoder.decode(Array("aGVsb".utf8)) == nil)

        var decoder = Base64StreamDecoder()
        var output = ByteBuffer()
        #expect(throws: Base64StreamDecoder.Failure.invalidCharacter(offset: 6, byte: UInt8(ascii: "*"))) {
            try decoder.decode(ByteBuffer(string: "aGVs\r\n*G8="), into: &output)
        }
        var padded = Base64StreamDecoder()
        #expect(throws: Base64StreamDecoder.Failure.dataAfterPadding(offset: 4)) {
            try padded.decode(ByteBuffer(string: "aGk=aGk="), into: &output)
        }
    }

    @Test("quoted-printable: hex escapes, soft line breaks, trailing blanks, and a literal '=' kept", arguments: [1, 2, 3, 7, 1000])
    func quotedPrintable(size: Int) throws {
        let input = Array("caf=C3=A9 =\r\nau lait   \r\nline=3Dtwo\t\r\nsoft=  \r\nend=\nx = y =4\r\n=ZZ=".utf8)
        let expected = Array("café au lait\r\nline=two\r\nsoftend".utf8) + Array("x = y =4\r\n=ZZ=".utf8)
        #expect(try decode(.quotedPrintable, input, chunk: size) == expected)
    }

    @Test("7bit, 8bit, binary and unknown encodings pass bytes through")
    func identity() throws {
        let data = MIMEFixtures.bytes(300, seed: 3)
        for encoding in [MIMETransferEncoding.sevenBit, .eightBit, .binary, .other("x-uuencode")] {
            #expect(try decode(encoding, data, chunk: 7) == data)
        }
        #expect(MIMETransferEncoding(" Base64 ") == .base64)
        #expect(MIMETransferEncoding(nil) == .sevenBit)
        #expect(MIMETransferEncoding("x-uuencode") == .other("x-uuencode"))
    }
}
