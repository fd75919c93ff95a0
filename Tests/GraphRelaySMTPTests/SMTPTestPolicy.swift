import GraphRelayMIME
import NIOConcurrencyHelpers
import Foundation
import NIOCore
import NIOPosix
@testable import GraphRelaySMTP

/// A gate a policy call can wait at until the test opens it.
actor TestGate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private(set) var arrivals = 0

    func wait() async {
        arrivals += 1
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }
}

/// A policy recording what it saw: accepts senders, accepts recipients unless `recipientRule`
/// says otherwise, reads every delivered message completely and answers `250 … queued as <id>`.
final class TestPolicy: SMTPPolicy {
    struct Delivery: Sendable {
        var envelope: SMTPEnvelope
        var session: SMTPSessionInfo
        var content: String
        var byteCount: Int
        var header: String
        var chunkSizes: [Int]
        /// The stored message's type name (memory or temporary file).
        var storage: String
        /// Whether `deliver` ran on an event loop thread.
        var onEventLoop: Bool
    }

    private struct State {
        var deliveries: [Delivery] = []
        var senders: [String] = []
        var recipients: [String] = []
        var connections = 0
        /// For each `acceptSender` call: whether it ran on an event loop thread.
        var senderOnEventLoop: [Bool] = []
    }

    private let state = NIOLockedValueBox(State())
    let recipientRule: @Sendable (SMTPForwardPath) -> SMTPDecision
    let connectionGate: TestGate?
    let senderGate: TestGate?
    let deliveryGate: TestGate?
    let deliveryReply: @Sendable (SMTPEnvelope) -> SMTPReply

    init(
        recipientRule: @escaping @Sendable (SMTPForwardPath) -> SMTPDecision = { _ in .accept },
        connectionGate: TestGate? = nil,
        senderGate: TestGate? = nil,
        deliveryGate: TestGate? = nil,
        deliveryReply: @escaping @Sendable (SMTPEnvelope) -> SMTPReply = { .queued(as: $0.id) }
    ) {
        self.recipientRule = recipientRule
        self.connectionGate = connectionGate
        self.senderGate = senderGate
        self.deliveryGate = deliveryGate
        self.deliveryReply = deliveryReply
    }

    func acceptConnection(_ session: SMTPSessionInfo) async -> SMTPDecision {
        state.withLockedValue { $0.connections += 1 }
        await connectionGate?.wait()
        return .accept
    }

    func acceptSender(_ sender: SMTPReversePath, parameters: SMTPMailParameters, session: SMTPSessionInfo) async -> SMTPDecision {
        let onEventLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        state.withLockedValue {
            $0.senders.append(sender.address)
            $0.senderOnEventLoop.append(onEventLoop)
        }
        await senderGate?.wait()
        return .accept
    }

    func acceptRecipient(_ recipient: SMTPForwardPath, envelope: SMTPEnvelope, session: SMTPSessionInfo) async -> SMTPDecision {
        state.withLockedValue { $0.recipients.append(recipient.address) }
        return recipientRule(recipient)
    }

    func deliver(_ message: SMTPIncomingMessage) async -> SMTPReply {
        let onEventLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        await deliveryGate?.wait()
        do {
            var content: [UInt8] = []
            var sizes: [Int] = []
            for try await chunk in message.content.chunks(size: 4096) {
                content.append(contentsOf: chunk.readableBytesView)
                sizes.append(chunk.readableBytes)
            }
            // The header section through its empty line, as the relay finds it.
            let headerLength: Int
            switch HeaderBoundaryScanner.outcome(of: content, isComplete: true) {
            case .complete(let span): headerLength = span.bodyOffset
            case .needMoreData, .tooLong: headerLength = content.count
            }
            let delivery = Delivery(
                envelope: message.envelope, session: message.session, content: String(decoding: content, as: UTF8.self),
                byteCount: message.content.byteCount, header: String(decoding: content.prefix(headerLength), as: UTF8.self), chunkSizes: sizes,
                storage: String(describing: type(of: message.content)), onEventLoop: onEventLoop
            )
            state.withLockedValue { $0.deliveries.append(delivery) }
        } catch {
            return SMTPReply(451, "4.3.0", "test policy could not read the message: \(error)")
        }
        return deliveryReply(message.envelope)
    }

    var deliveries: [Delivery] { state.withLockedValue { $0.deliveries } }
    var senders: [String] { state.withLockedValue { $0.senders } }
    var senderOnEventLoop: [Bool] { state.withLockedValue { $0.senderOnEventLoop } }
    var recipients: [String] { state.withLockedValue { $0.recipients } }
    var connections: Int { state.withLockedValue { $0.connections } }
}

/// Users: alice/secret, and "bob@example.com"/"pa ss wörd"; "busy" is never checked (454).
struct TestAuthenticator: SMTPAuthenticator {
    var users = ["alice": "secret", "bob@example.com": "pa ss wörd"]

    func authenticate(username: String, password: String, session: SMTPSessionInfo) async -> SMTPAuthenticationResult {
        if username == "busy" { return .temporarilyUnavailable }
        return users[username] == password ? .succeeded : .failed
    }
}

enum TestTimeout: Error, CustomStringConvertible {
    case waitedTooLong(String)
    var description: String {
        if case .waitedTooLong(let what) = self { return "gave up waiting for \(what)" }
        return "timeout"
    }
}

/// Polls `condition` until it holds, at most `seconds` (a safety net against hangs, not a timing assertion).
func eventually(_ what: String, seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
    throw TestTimeout.waitedTooLong(what)
}
