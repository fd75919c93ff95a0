// The inbound decoder on its own: command lines, DATA (dot-unstuffing, end detection under each
// line-ending policy) and BDAT chunks, switched by the input's own bytes, fed in pieces.
import NIOCore
@testable import GraphRelaySMTP
import CLibFuzzer
import Glibc

exit(graph_relay_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, fuzzSMTPInbound))

func fuzzSMTPInbound(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard input.count >= 2 else { return 0 }
    let lineEndings: SMTPLineEndings = [.strict, .normalize, .legacyLF][Int(input[0] % 3)]
    var decoder = SMTPInboundDecoder(lineEndings: lineEndings, maximumLineLength: 512, maximumTextLineLength: 1000)
    switch input[1] % 3 {
    case 0: break
    case 1: decoder.beginMessage(); decoder.expectData()
    default: decoder.beginMessage(); decoder.expectChunk(size: Int(input[1]) * 3, last: input[1] & 1 == 0)
    }
    var index = 2
    var content = 0
    while index < input.count {
        let length = 1 + Int(input[index]) % 32
        let end = min(input.count, index + 1 + length)
        var buffer = ByteBuffer()
        buffer.writeBytes(input[(index + 1)..<end])
        decoder.feed(buffer)
        while let event = decoder.next() {
            switch event {
            case .messageData(let bytes), .chunkData(let bytes):
                content += bytes.readableBytes
            case .messageEnd, .chunkEnd:
                // Back to commands; the next piece may start another DATA.
                if input[index] & 0x80 != 0 { decoder.beginMessage(); decoder.expectData() }
            default:
                break
            }
        }
        index = end
    }
    // Content is never more than the input, except that normalize and legacy-lf store each bare
    // LF as CRLF: at most twice the input.
    precondition(content <= input.count * (lineEndings == .strict ? 1 : 2), "more content than the input can carry")
    return 0
}
