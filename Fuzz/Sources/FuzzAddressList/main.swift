// Address lists as found in To:, Cc:, Bcc: and From: (groups, comments, quoted strings,
// encoded words), and the addr-spec checks on what comes out.
@testable import GraphRelay
import CLibFuzzer
import Glibc

exit(graph_relay_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, fuzzAddressList))

func fuzzAddressList(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for address in AddressListParser.parse(bytes) {
        _ = address.canonical
        _ = address.displayName
        _ = MailAddress.isValidAddrSpec(address.addrSpec)
        _ = address.description
    }
    _ = EnvelopeSender(String(decoding: bytes, as: UTF8.self)).canonicalAddress
    return 0
}
