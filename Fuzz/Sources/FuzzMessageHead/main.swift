// A message's header section as a device sends it: the boundary scan, field splitting, the
// From:/To:/Cc:/Bcc: views and the rewrite the relay applies before Graph (Bcc merge, From:
// rewrite, Message-ID), whose output must parse again.
@testable import GraphRelay
import CLibFuzzer
import Glibc

exit(graph_relay_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, fuzzMessageHead))

func fuzzMessageHead(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let (parsed, offset) = try? MessageHead.parse(bytes, isComplete: true, limit: 64 * 1024) else { return 0 }
    var head = parsed
    precondition(offset <= bytes.count, "body offset beyond the message")
    _ = head.fromAddresses
    _ = head.headerRecipients
    _ = head.messageID
    _ = head.rewrite(HeaderRewriteOptions(
        envelopeRecipients: ["a@b.example", "c@d.example"], rewriteFrom: size % 2 == 0 ? "scanner@contoso.example" : nil,
        messageIDDomain: "relay.example"
    ))
    let rewritten = head.bytes + [13, 10]
    precondition((try? MessageHead.parse(rewritten, isComplete: true, limit: 1 << 20)) != nil, "a rewritten header section does not parse")
    return 0
}
