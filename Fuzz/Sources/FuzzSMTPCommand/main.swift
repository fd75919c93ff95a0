// One command line (the SMTP command parser with paths and ESMTP parameters) and, from the same
// bytes, an AUTH response or a JWT segment (strict base64, both alphabets).
@testable import GraphRelaySMTP
import GraphRelayMIME
import CLibFuzzer
import Glibc

exit(graph_relay_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, fuzzSMTPCommand))

func fuzzSMTPCommand(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let line = Array(UnsafeBufferPointer(start: data, count: size))
    switch SMTPCommandParser.parse(line) {
    case .command(let command): _ = "\(command)"
    case .failure(let reply), .malformedChunk(let reply): _ = reply.wireFormat
    }
    for alphabet in [Base64.Alphabet.standard, .url] {
        if let decoded = Base64.decode(line, alphabet: alphabet) {
            let encoded = Base64.encode(decoded, alphabet: alphabet, padded: line.last == UInt8(ascii: "="))
            precondition(Array(encoded.utf8) == line, "base64 does not round-trip")
        }
    }
    return 0
}
