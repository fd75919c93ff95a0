import NIOConcurrencyHelpers
import GraphRelayTLS
import GraphRelayTestSupport
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import GraphRelaySMTP

/// Counts the read requests that pass it on their way to the channel.
final class ReadCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = Any
    let count = NIOLockedValueBox(0)

    func read(context: ChannelHandlerContext) {
        count.withLockedValue { $0 += 1 }
        context.read()
    }
}

/// Collects what the handler writes into replies.
final class OutboundReplies {
    private var pending: [UInt8] = []
    private var lines: [String] = []

    func next(from channel: NIOAsyncTestingChannel, seconds: Double = 30) async throws -> SMTPTestReply {
        var reply: SMTPTestReply?
        try await eventually("a reply", seconds: seconds) {
            if let parsed = parse() {
                reply = parsed
                return true
            }
            if let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                pending.append(contentsOf: buffer.readableBytesView)
                return false
            }
            return false
        }
        return reply!
    }

    private func parse() -> SMTPTestReply? {
        while let lf = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: pending[..<(lf - 1)], as: UTF8.self)
            pending.removeSubrange(...lf)
            lines.append(String(line.dropFirst(4)))
            if line.dropFirst(3).first == " " {
                defer { lines = [] }
                return SMTPTestReply(code: Int(line.prefix(3))!, lines: lines)
            }
        }
        return nil
    }
}

@Suite("SMTP session handler")
struct SMTPSessionHandlerTests {
    struct Fixture {
        var channel: NIOAsyncTestingChannel
        var reads: ReadCounter
        var replies = OutboundReplies()

        func send(_ text: String) async throws {
            var buffer = ByteBuffer()
            buffer.writeString(text)
            try await channel.writeInbound(buffer)
        }

        func reply() async throws -> SMTPTestReply {
            try await replies.next(from: channel)
        }

        /// Sends, then waits until the session has handled the input (its held read is released),
        /// so virtual time advanced afterwards counts against the client.
        func sendAndSettle(_ text: String) async throws {
            try await send(text)
            try await settle()
        }

        func settle() async throws {
            let before = reads.count.withLockedValue { $0 }
            channel.read()
            try await eventually("the session to settle") { reads.count.withLockedValue { $0 } > before }
        }

        func statuses(_ count: Int) async throws -> [String] {
            var result: [String] = []
            for _ in 0..<count { result.append(try await reply().status) }
            return result
        }
    }

    func makeFixture(
        listener: SMTPListenerConfiguration = SMTPListenerConfiguration(name: "test"),
        limits: SMTPLimits = SMTPLimits(),
        policy: TestPolicy = TestPolicy(),
        store: any SMTPMessageStore = SMTPSpillingMessageStore(memoryThreshold: 64),
        rejection: SMTPReply? = nil,
        hooksOnEventLoop: Bool = false,
        startTLSContext: TLSContext? = nil,
        logger: Logger = SMTPServerFixture.quietLogger
    ) async throws -> Fixture {
        let channel = NIOAsyncTestingChannel()
        let reads = ReadCounter()
        let configuration = SMTPSessionStateMachine.Configuration(
            hostname: "relay.test", banner: "ESMTP graph-relay", limits: limits, listener: listener,
            startTLSAvailable: startTLSContext != nil, authenticationAvailable: true
        )
        let session = SMTPSessionInfo(id: "H1", listenerName: listener.name, clientAddress: "192.0.2.10", clientPort: 40000)
        let services = SMTPSessionHandler.Services(
            policy: policy, authenticator: TestAuthenticator(), messageStore: store, hooksOnEventLoop: hooksOnEventLoop
        )
        try await channel.pipeline.addHandler(reads)
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(SMTPSessionHandler(
                configuration: configuration, session: session, services: services,
                startTLSContext: startTLSContext, rejection: rejection, logger: logger
            ))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.10", port: 40000))
        return Fixture(channel: channel, reads: reads)
    }

    @Test("a pipelined session through the handler, with the message spilled to a temporary file")
    func session() async throws {
        let policy = TestPolicy()
        let fixture = try await makeFixture(policy: policy)
        #expect(try await fixture.reply().status == "220")
        try await fixture.send("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        #expect(try await fixture.statuses(4) == ["250", "250 2.1.0", "250 2.1.5", "354"])
        let body = (1...100).map { "line \($0) of a message bigger than the memory threshold\r\n" }.joined()
        try await fixture.send("Subject: spill\r\n\r\n" + body + ".\r\nQUIT\r\n")
        let queued = try await fixture.reply()
        #expect(queued.status == "250 2.0.0")
        #expect(queued.text.hasSuffix("queued as \(policy.deliveries.first?.envelope.id ?? "?")"))
        #expect(try await fixture.reply().status == "221 2.0.0")
        try await eventually("the channel to close") { !fixture.channel.isActive }
        let delivery = try #require(policy.deliveries.first)
        #expect(delivery.content.hasSuffix("Subject: spill\r\n\r\n" + body))
        #expect(delivery.header.hasPrefix("Received: from c.example ([192.0.2.10])"))
        #expect(delivery.header.hasSuffix("Subject: spill\r\n\r\n"))
        #expect(delivery.byteCount == delivery.content.utf8.count)
        #expect(delivery.chunkSizes.count > 1, "streamed in chunks")
        #expect(delivery.storage == "SMTPTemporaryFileMessage")
    }

    @Test("reads are held while the policy decides, and resumed after")
    func backPressure() async throws {
        let gate = TestGate()
        let fixture = try await makeFixture(policy: TestPolicy(senderGate: gate))
        _ = try await fixture.reply()
        try await fixture.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
        _ = try await fixture.reply()
        try await eventually("the sender check") { await gate.arrivals == 1 }
        let before = fixture.reads.count.withLockedValue { $0 }
        fixture.channel.read()
        #expect(fixture.reads.count.withLockedValue { $0 } == before, "read held while waiting")
        await gate.open()
        #expect(try await fixture.reply().status == "250 2.1.0")
        try await eventually("the held read") { fixture.reads.count.withLockedValue { $0 } == before + 1 }
    }

    @Test("hooks on the event loop: reads go on while a hook is pending, and stop once input arrives meanwhile")
    func lazyBackPressure() async throws {
        let gate = TestGate()
        let fixture = try await makeFixture(policy: TestPolicy(senderGate: gate), hooksOnEventLoop: true)
        // Tasks on the test event loop run when it is run.
        let loop = fixture.channel.testingEventLoop
        _ = try await fixture.reply()
        try await fixture.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
        try await eventually("the sender check") {
            await loop.run()
            return await gate.arrivals == 1
        }
        _ = try await fixture.reply()
        // Nothing arrived during the wait: the read passes (no read-interest toggling).
        var before = fixture.reads.count.withLockedValue { $0 }
        fixture.channel.read()
        await loop.run()
        #expect(fixture.reads.count.withLockedValue { $0 } == before + 1, "read passed while nothing arrived")
        // A pipelining client sends on: that input is kept, and from now on reads are held.
        try await fixture.send("RCPT TO:<c@d.example>\r\n")
        before = fixture.reads.count.withLockedValue { $0 }
        fixture.channel.read()
        await loop.run()
        #expect(fixture.reads.count.withLockedValue { $0 } == before, "read held once input arrived during the wait")
        await gate.open()
        try await eventually("the answers and the held read") {
            await loop.run()
            return fixture.reads.count.withLockedValue { $0 } == before + 1
        }
        #expect(try await fixture.statuses(2) == ["250 2.1.0", "250 2.1.5"])
    }

    @Test("idle timeout: 421 4.4.2 and close")
    func idleTimeout() async throws {
        let fixture = try await makeFixture()
        _ = try await fixture.reply()
        await fixture.channel.testingEventLoop.advanceTime(by: .seconds(299))
        #expect(fixture.channel.isActive)
        await fixture.channel.testingEventLoop.advanceTime(by: .seconds(2))
        #expect(try await fixture.reply().status == "421 4.4.2")
        try await eventually("the channel to close") { !fixture.channel.isActive }
    }

    @Test("a command line trickling in is cut off by the per-command deadline")
    func commandDeadline() async throws {
        let fixture = try await makeFixture()
        _ = try await fixture.reply()
        for second in 0..<59 {
            try await fixture.send(second % 2 == 0 ? "N" : "O")
            await fixture.channel.testingEventLoop.advanceTime(by: .seconds(1))
        }
        #expect(fixture.channel.isActive)
        await fixture.channel.testingEventLoop.advanceTime(by: .seconds(2))
        #expect(try await fixture.reply().status == "421 4.4.2")
    }

    @Test("message content must keep the minimum data rate")
    func dataRate() async throws {
        var limits = SMTPLimits()
        limits.maximumDataDuration = .seconds(2000)  // not the cap under test
        let fast = try await makeFixture(limits: limits)
        _ = try await fast.reply()
        try await fast.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        _ = try await fast.statuses(4)
        try await fast.settle()
        let block = String(repeating: "x", count: 998) + "\r\n"
        for _ in 0..<10 {
            // 60 KB per 100 s: 600 B/s, above the 500 B/s minimum.
            await fast.channel.testingEventLoop.advanceTime(by: .seconds(100))
            try await fast.sendAndSettle(String(repeating: block, count: 60))
        }
        #expect(fast.channel.isActive, "1000 s and still fine")

        let slow = try await makeFixture()
        _ = try await slow.reply()
        try await slow.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        _ = try await slow.statuses(4)
        try await slow.settle()
        await slow.channel.testingEventLoop.advanceTime(by: .seconds(200))
        try await slow.sendAndSettle(String(repeating: "y", count: 100))
        await slow.channel.testingEventLoop.advanceTime(by: .seconds(101))
        #expect(try await slow.reply().status == "421 4.4.2")
    }

    @Test("a session that keeps sending commands is closed when its lifetime is up; a message's transfer has its own cap")
    func lifetimeCaps() async throws {
        var limits = SMTPLimits()
        limits.maximumSessionDuration = .seconds(600)
        limits.maximumDataDuration = .seconds(120)
        let busy = try await makeFixture(limits: limits)
        _ = try await busy.reply()
        try await busy.send("EHLO c\r\n")
        _ = try await busy.reply()
        // A message a minute: progress every time, the idle timer never fires.
        for minute in 0..<9 {
            await busy.channel.testingEventLoop.advanceTime(by: .seconds(60))
            try await busy.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nm\(minute)\r\n.\r\n")
            #expect(try await busy.statuses(4) == ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0"])
        }
        #expect(busy.channel.isActive)
        await busy.channel.testingEventLoop.advanceTime(by: .seconds(61))
        let closing = try await busy.reply()
        #expect(closing.status == "421 4.4.2" && closing.text.contains("session time limit"))
        try await eventually("the channel to close") { !busy.channel.isActive }

        // Content that keeps the minimum rate, but for longer than maximumDataDuration.
        let steady = try await makeFixture(limits: limits)
        _ = try await steady.reply()
        try await steady.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        _ = try await steady.statuses(4)
        try await steady.settle()
        let block = String(repeating: "x", count: 998) + "\r\n"
        for _ in 0..<11 {
            await steady.channel.testingEventLoop.advanceTime(by: .seconds(10))
            try await steady.sendAndSettle(String(repeating: block, count: 10))  // 1 kB/s
        }
        #expect(steady.channel.isActive, "110 s of content")
        await steady.channel.testingEventLoop.advanceTime(by: .seconds(11))
        let cut = try await steady.reply()
        #expect(cut.status == "421 4.4.2" && cut.text.contains("transfer time limit"))
    }

    @Test("EHLO and NOOP loops: beyond the junk limit each counts as an error, then 421 4.7.0")
    func junkLoop() async throws {
        var limits = SMTPLimits()
        limits.maximumJunkCommands = 10
        limits.maximumErrors = 3
        let fixture = try await makeFixture(limits: limits)
        _ = try await fixture.reply()
        try await fixture.send(String(repeating: "EHLO c\r\nNOOP\r\n", count: 7))
        let statuses = try await fixture.statuses(14)
        #expect(statuses.last == "421 4.7.0", "\(statuses)")
        try await eventually("the channel to close") { !fixture.channel.isActive }
    }

    @Test("plaintext that arrives while the STARTTLS 220 waits for the client to read is dropped, never run inside TLS")
    func startTLSUnderBackPressure() async throws {
        let policy = TestPolicy()
        let logs = LogCapture()
        let fixture = try await makeFixture(
            listener: SMTPListenerConfiguration(name: "submission", tls: .starttls), policy: policy,
            startTLSContext: try SMTPServerFixture.serverTLS(), logger: logs.logger("smtp")
        )
        _ = try await fixture.reply()
        try await fixture.send("EHLO c\r\n")
        _ = try await fixture.reply()
        // The client reads nothing: the 220 fills the output, the session stops before TLS starts.
        fixture.channel.isWritable = false
        try await fixture.send("STARTTLS\r\n")
        #expect(try await fixture.reply().status == "220 2.0.0")
        // Another read of the same read loop, before the TLS handler is in place.
        let injected = "EHLO evil\r\nMAIL FROM:<evil@attacker.example>\r\n"
        try await fixture.send(injected)
        fixture.channel.isWritable = true
        fixture.channel.pipeline.fireChannelWritabilityChanged()
        fixture.channel.pipeline.fireUserInboundEventTriggered(
            TLSUserEvent.handshakeCompleted(TLSConnectionInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", cipherBits: 128))
        )
        try await eventually("the warning") { !logs.entries(containing: "discarded plaintext").isEmpty }
        #expect(logs.entries(containing: "discarded plaintext").first?.metadata["smtp.octets"] == "\(injected.utf8.count)")
        #expect(policy.senders.isEmpty, "the injected MAIL FROM ran inside TLS")
    }

    @Test("shutdown: 421 4.3.2 and close")
    func shutdown() async throws {
        let fixture = try await makeFixture()
        _ = try await fixture.reply()
        fixture.channel.pipeline.fireUserInboundEventTriggered(SMTPServerShutdownEvent())
        #expect(try await fixture.reply().status == "421 4.3.2")
        try await eventually("the channel to close") { !fixture.channel.isActive }
    }

    @Test("the TLS handshake event reaches the session (implicit TLS)")
    func tlsEvent() async throws {
        let policy = TestPolicy()
        let fixture = try await makeFixture(listener: SMTPListenerConfiguration(name: "smtps", tls: .implicit), policy: policy)
        _ = try await fixture.reply()
        fixture.channel.pipeline.fireUserInboundEventTriggered(
            TLSUserEvent.handshakeCompleted(TLSConnectionInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", cipherBits: 128))
        )
        try await fixture.send("EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nhi\r\n.\r\n")
        #expect(try await fixture.statuses(6) == ["250", "235 2.7.0", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"])
        let delivery = try #require(policy.deliveries.first)
        #expect(delivery.header.contains("(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128 bits))"))
        #expect(delivery.header.contains("with ESMTPSA id"))
        #expect(delivery.session.authenticatedUser == "alice")
    }

    @Test("a failed AUTH is answered only after the delay")
    func authDelay() async throws {
        var limits = SMTPLimits()
        limits.authenticationFailureDelay = .milliseconds(200)
        let fixture = try await makeFixture(listener: SMTPListenerConfiguration(name: "t", allowPlaintextAuthentication: true), limits: limits)
        _ = try await fixture.reply()
        try await fixture.send("EHLO c\r\n")
        _ = try await fixture.reply()
        let start = ContinuousClock.now
        try await fixture.send("AUTH PLAIN AGFsaWNlAHdyb25n\r\n")
        #expect(try await fixture.reply().status == "535 5.7.8")
        #expect(ContinuousClock.now - start >= .milliseconds(200))
    }

    @Test("AUTH not checked now is answered 454 4.7.0 at once, without the failure delay")
    func authTemporarilyUnavailable() async throws {
        var limits = SMTPLimits()
        limits.authenticationFailureDelay = .seconds(30)
        let fixture = try await makeFixture(listener: SMTPListenerConfiguration(name: "t", allowPlaintextAuthentication: true), limits: limits)
        _ = try await fixture.reply()
        try await fixture.send("EHLO c\r\n")
        _ = try await fixture.reply()
        let start = ContinuousClock.now
        try await fixture.send("AUTH PLAIN AGJ1c3kAc2VjcmV0\r\n")
        #expect(try await fixture.reply().status == "454 4.7.0")
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test("over a connection limit: 421 4.7.0, no policy call")
    func limiterRejection() async throws {
        let policy = TestPolicy()
        let fixture = try await makeFixture(policy: policy, rejection: .tooManyConnections(hostname: "relay.test"))
        #expect(try await fixture.reply().status == "421 4.7.0")
        try await eventually("the channel to close") { !fixture.channel.isActive }
        #expect(policy.connections == 0)
    }
}
