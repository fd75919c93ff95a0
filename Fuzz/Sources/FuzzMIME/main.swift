// The MIME scanner that finds a large message's parts and attachments (multipart nesting,
// boundaries, parameters, transfer encodings), fed in pieces.
import NIOCore
import GraphRelayMIME
import CLibFuzzer
import Glibc

exit(graph_relay_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, fuzzMIME))

func fuzzMIME(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = input.first else { return 0 }
    var scanner = MIMEScanner()
    let piece = 1 + Int(first) % 97
    var index = 1
    while index < input.count {
        let end = min(input.count, index + piece)
        input[index..<end].withUnsafeBytes { scanner.scan($0) }
        index = end
    }
    let structure = scanner.finish()
    for entity in structure.entities {
        // The first byte chose the piece size; the scanner saw the rest.
        precondition(entity.range.upperBound <= input.count - 1 && entity.bodyRange.upperBound <= input.count - 1, "an entity ends beyond the input")
    }
    return 0
}
