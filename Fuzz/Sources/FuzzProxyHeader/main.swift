// The PROXY protocol header parser (v1 text, v2 binary), fed in pieces whose sizes the input
// chooses. Whatever it decides, it never reads past its own limits, and a header's remainder is
// exactly the bytes after the header.
import NIOCore
@testable import GraphRelaySMTP
import CLibFuzzer
import Glibc

exit(graph_relay_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, fuzzProxyHeader))

func fuzzProxyHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let step = Int(input[0] % 17) + 1
    let bytes = Array(input.dropFirst())
    var machine = ProxyHeaderStateMachine()
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + step)
        switch machine.bytesReceived(ByteBuffer(bytes: bytes[offset..<end])) {
        case .needMore:
            precondition(end - 0 <= 16 + ProxyHeaderStateMachine.maximumV2Length + step, "waited beyond the v2 bound")
            offset = end
        case .reject:
            return 0
        case .header(_, let remainder):
            let consumed = end - remainder.readableBytes
            precondition(consumed > 0 && consumed <= 16 + ProxyHeaderStateMachine.maximumV2Length, "header of \(consumed) bytes")
            precondition(Array(remainder.readableBytesView) == Array(bytes[consumed..<end]), "the remainder is not what followed the header")
            return 0
        }
    }
    return 0
}
