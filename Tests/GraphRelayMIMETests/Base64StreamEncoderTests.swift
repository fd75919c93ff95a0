import Foundation
import NIOCore
import Testing
import GraphRelayMIME

@Suite("Base64StreamEncoder")
struct Base64StreamEncoderTests {
    func encode(_ bytes: [UInt8], chunkSizes: [Int]) -> String {
        var encoder = Base64StreamEncoder()
        var output = ByteBuffer()
        var offset = 0
        var sizes = chunkSizes.makeIterator()
        while offset < bytes.count {
            let size = min(sizes.next() ?? 7, bytes.count - offset)
            encoder.encode(ByteBuffer(bytes: bytes[offset..<offset + size]), into: &output)
            offset += size
        }
        encoder.finish(into: &output)
        return String(buffer: output)
    }

    @Test(arguments: [0, 1, 2, 3, 4, 5, 6, 7, 100, 1000, 65_537])
    func matchesFoundationForAnyChunking(length: Int) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let expected = Data(bytes).base64EncodedString()
        #expect(encode(bytes, chunkSizes: [length]) == expected)
        #expect(encode(bytes, chunkSizes: [1, 1, 1, 2, 5, 1]) == expected)
        #expect(encode(bytes, chunkSizes: [2, 2, 2, 2]) == expected)
        #expect(encode(bytes, chunkSizes: [4096]) == expected)
        #expect(Base64StreamEncoder.encodedLength(of: length) == expected.utf8.count)
    }

    @Test func knownVectors() {
        // RFC 4648 §10.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(encode(Array(plain.utf8), chunkSizes: [1]) == encoded)
        }
    }

    @Test func countsInput() {
        var encoder = Base64StreamEncoder()
        var output = ByteBuffer()
        encoder.encode(ByteBuffer(string: "hello"), into: &output)
        encoder.encode(ByteBuffer(string: " world"), into: &output)
        #expect(encoder.inputCount == 11)
    }
}
