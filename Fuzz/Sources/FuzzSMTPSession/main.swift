// The whole SMTP session (command parser, inbound decoder with DATA and BDAT, AUTH PLAIN/LOGIN
// and its base64, path and parameter parsing, limits) driven by arbitrary client bytes. The input
// is cut into reads at the positions its own bytes choose, so reads split lines, CRLFs and chunks
// everywhere. Every action is answered as a permissive relay would: connection, senders and
// recipients accepted, AUTH alice/secret, sinks that store, a 250 for every message.
import NIOCore
@testable import GraphRelaySMTP
import GraphRelayTLS
import CLibFuzzer
import Glibc

exit(graph_relay_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv, fuzzSMTPSession))

func fuzzSMTPSession(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = input.first else { return 0 }
    var limits = SMTPLimits()
    limits.maximumMessageSize = 4096
    limits.maximumRecipients = 4
    let lineEndings: SMTPLineEndings = [.strict, .normalize, .legacyLF][Int(first % 3)]
    let configuration = SMTPSessionStateMachine.Configuration(
        hostname: "relay.fuzz", banner: "ESMTP graph-relay", limits: limits,
        listener: SMTPListenerConfiguration(allowPlaintextAuthentication: true, lineEndings: lineEndings),
        startTLSAvailable: first & 4 != 0, authenticationAvailable: true
    )
    let session = SMTPSessionInfo(id: "F", listenerName: "fuzz", clientAddress: "192.0.2.1")
    var machine = SMTPSessionStateMachine(configuration: configuration, session: session, makeIdentifier: { "ID" }, clock: { 0 })
    var closed = false
    var stored = 0

    func run(_ first: SMTPSessionStateMachine.Action) {
        var action = first
        while !closed {
            switch action {
            case .reply:
                break
            case .replyAndClose, .close:
                closed = true
                return
            case .checkConnection:
                action = machine.connectionDecided(.accept)
                continue
            case .checkSender:
                action = machine.senderDecided(.accept)
                continue
            case .checkRecipient:
                action = machine.recipientDecided(.accept)
                continue
            case .verifyCredentials(let username, let password, _):
                action = machine.credentialsVerified(username == "alice" && password == "secret" ? .succeeded : .failed)
                continue
            case .startTLS:
                action = machine.tlsHandshakeCompleted(TLSConnectionInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", cipherBits: 128))
                continue
            case .openSink:
                stored = 0
                action = machine.sinkOpened(success: true)
                continue
            case .appendToSink(let bytes):
                stored += bytes.readableBytes
                precondition(stored <= 4096 + 65_536, "the sink got more than the size limit allows")
                action = machine.sinkAppended(success: true)
                continue
            case .deliver:
                action = machine.delivered(SMTPReply(250, "2.0.0", "Ok"))
                continue
            case .discardSink:
                stored = 0
            case .refused(let reply):
                precondition(reply.code >= 400, "a refusal with a positive reply")
            case .needInput, .wait:
                return
            }
            action = machine.nextAction()
        }
    }

    run(machine.start(rejection: nil))
    var index = 1
    while index < input.count && !closed {
        let length = 1 + Int(input[index]) % 64
        let end = min(input.count, index + 1 + length)
        var buffer = ByteBuffer()
        buffer.writeBytes(input[(index + 1)..<end])
        run(machine.bytesReceived(buffer))
        index = end
    }
    if !closed { run(machine.timedOut()) }
    machine.connectionClosed()
    return 0
}
