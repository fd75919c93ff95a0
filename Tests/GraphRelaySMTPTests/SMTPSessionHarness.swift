import GraphRelayTLS
import NIOCore
@testable import GraphRelaySMTP

/// Drives an ``SMTPSessionStateMachine`` synchronously: asynchronous actions are answered at once
/// from the configured decisions, content appended to an in-memory sink, deliveries recorded.
struct SMTPSessionHarness {
    typealias Machine = SMTPSessionStateMachine

    var machine: Machine
    var replies: [SMTPReply] = []
    var closed = false
    var closedSilently = false
    var senderChecks: [SMTPReversePath] = []
    var recipientChecks: [SMTPForwardPath] = []
    var credentialChecks: [(String, String)] = []
    var sinkContent: [UInt8]?
    var sinksOpened = 0
    var sinksDiscarded = 0
    /// The codes of `.refused` actions (MAIL, RCPT or message refused), in order.
    var refusals: [Int] = []
    var deliveries: [(envelope: SMTPEnvelope, session: SMTPSessionInfo, content: String)] = []
    var startTLSDiscarded: [Int] = []
    /// Set when the machine waits for something the harness does not answer (TLS handshake).
    var waiting = false

    var acceptConnection: SMTPDecision = .accept
    var senderDecision: (SMTPReversePath) -> SMTPDecision = { _ in .accept }
    var recipientDecision: (SMTPForwardPath) -> SMTPDecision = { _ in .accept }
    var deliveryReply: SMTPReply = .queued(as: "QUEUED1")
    var users: [String: String] = ["alice": "secret"]
    /// The authenticator answers "not checked now" (454) for this user name.
    static let unavailableUser = "busy"
    var sinkOpenFails = false
    var appendFailsAfter: Int?

    static func configuration(
        listener: SMTPListenerConfiguration = SMTPListenerConfiguration(),
        limits: SMTPLimits = SMTPLimits(),
        startTLSAvailable: Bool = false,
        authentication: Bool = true
    ) -> Machine.Configuration {
        Machine.Configuration(
            hostname: "relay.test", banner: "ESMTP graph-relay", limits: limits, listener: listener,
            startTLSAvailable: startTLSAvailable, authenticationAvailable: authentication
        )
    }

    init(_ configuration: Machine.Configuration = configuration(), tls: TLSConnectionInfo? = nil) {
        let session = SMTPSessionInfo(id: "S1", listenerName: configuration.listener.name, clientAddress: "192.0.2.10", clientPort: 40000)
        machine = Machine(configuration: configuration, session: session, makeIdentifier: { "FIXEDID" }, clock: { 1_764_064_800 })
        _ = tls
    }

    /// Connects (admission ok unless `rejection`) and consumes the greeting.
    mutating func connect(rejection: SMTPReply? = nil) {
        run(machine.start(rejection: rejection))
    }

    mutating func send(_ text: String) {
        send(bytes: Array(text.utf8))
    }

    mutating func send(bytes: [UInt8]) {
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        run(machine.bytesReceived(buffer))
    }

    /// Replies received since the last call, as "code status" strings.
    mutating func takeStatuses() -> [String] {
        defer { replies = [] }
        return replies.map(Self.status)
    }

    static func status(_ reply: SMTPReply) -> String {
        reply.enhancedStatusCode.map { "\(reply.code) \($0)" } ?? "\(reply.code)"
    }

    mutating func run(_ first: Machine.Action) {
        var action = first
        waiting = false
        while true {
            switch action {
            case .reply(let reply):
                replies.append(reply)
            case .replyAndClose(let reply):
                replies.append(reply)
                closed = true
                return
            case .close:
                closed = true
                closedSilently = true
                return
            case .checkConnection:
                action = machine.connectionDecided(acceptConnection)
                continue
            case .checkSender(let sender, _, _):
                senderChecks.append(sender)
                action = machine.senderDecided(senderDecision(sender))
                continue
            case .checkRecipient(let recipient, _, _):
                recipientChecks.append(recipient)
                action = machine.recipientDecided(recipientDecision(recipient))
                continue
            case .verifyCredentials(let username, let password, _):
                credentialChecks.append((username, password))
                action = machine.credentialsVerified(
                    username == Self.unavailableUser ? .temporarilyUnavailable : users[username] == password ? .succeeded : .failed
                )
                continue
            case .startTLS(let discarded):
                startTLSDiscarded.append(discarded)
            case .openSink:
                sinksOpened += 1
                if sinkOpenFails {
                    action = machine.sinkOpened(success: false)
                } else {
                    sinkContent = []
                    action = machine.sinkOpened(success: true)
                }
                continue
            case .appendToSink(let bytes):
                if let limit = appendFailsAfter, (sinkContent?.count ?? 0) >= limit {
                    action = machine.sinkAppended(success: false)
                } else {
                    sinkContent?.append(contentsOf: bytes.readableBytesView)
                    action = machine.sinkAppended(success: true)
                }
                continue
            case .deliver(let envelope, let session):
                deliveries.append((envelope, session, String(decoding: sinkContent ?? [], as: UTF8.self)))
                sinkContent = nil
                action = machine.delivered(deliveryReply)
                continue
            case .refused(let reply):
                refusals.append(reply.code)
            case .discardSink:
                sinksDiscarded += 1
                sinkContent = nil
            case .needInput:
                return
            case .wait:
                waiting = true
                return
            }
            action = machine.nextAction()
        }
    }
}
