import NIOCore
import Testing
@testable import GraphRelaySMTP

@Suite("SMTP replies, identifiers and headers")
struct SMTPReplyTests {
    @Test("single and multi-line replies on the wire")
    func encoding() {
        #expect(SMTPReply(250, "2.0.0", "Ok").wireFormat == "250 2.0.0 Ok\r\n")
        #expect(SMTPReply(code: 250, lines: ["relay.test", "PIPELINING", "SIZE 10"]).wireFormat == "250-relay.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n")
        #expect(SMTPReply(code: 334, lines: []).wireFormat == "334 \r\n")
        var buffer = ByteBuffer()
        SMTPReply.queued(as: "ABC").write(into: &buffer)
        #expect(buffer.string == "250 2.0.0 Ok: queued as ABC\r\n")
    }

    @Test("text from a policy cannot inject reply lines; invalid codes become 451")
    func sanitising() {
        #expect(SMTPReply(550, "5.7.1", "no\r\n250 2.0.0 injected").wireFormat == "550 5.7.1 no  250 2.0.0 injected\r\n")
        #expect(SMTPReply(code: 99, lines: ["odd"]).wireFormat == "451 odd\r\n")
    }

    @Test("enhanced status codes parse strictly")
    func enhancedStatus() {
        #expect(SMTPEnhancedStatusCode("5.7.11") == SMTPEnhancedStatusCode(5, 7, 11))
        #expect(SMTPEnhancedStatusCode("2.0.0")?.description == "2.0.0")
        for bad in ["3.0.0", "5.7", "5.7.1.1", "x.1.1", "5..1", "5.1000.1"] {
            #expect(SMTPEnhancedStatusCode(bad) == nil, "\(bad)")
        }
    }

    @Test("policy replies are normalised")
    func normalisation() {
        typealias Machine = SMTPSessionStateMachine
        #expect(Machine.normalizedRejection(SMTPReply(250, "2.0.0", "x")) == .internalError)
        #expect(Machine.normalizedRejection(SMTPReply(550, "4.1.1", "x")).enhancedStatusCode == SMTPEnhancedStatusCode(5, 1, 1))
        #expect(Machine.normalizedDeliveryReply(SMTPReply(354, nil, "x")) == .internalError)
        #expect(Machine.normalizedDeliveryReply(.queued(as: "Q")) == .queued(as: "Q"))
    }

    @Test("identifiers are upper-case hex of the requested length")
    func identifiers() {
        let id = SMTPIdentifier.random()
        #expect(id.count == 12)
        #expect(id.allSatisfy { $0.isHexDigit && !$0.isLowercase })
        #expect(SMTPIdentifier.random(hexDigits: 10).count == 10)
        #expect(Set((0..<50).map { _ in SMTPIdentifier.random() }).count == 50)
    }

    @Test("Received header pieces")
    func receivedHeader() {
        #expect(SMTPReceivedHeader.rfc5322Date(0) == "Thu, 1 Jan 1970 00:00:00 +0000")
        #expect(SMTPReceivedHeader.rfc5322Date(1_764_064_800) == "Tue, 25 Nov 2025 10:00:00 +0000")
        #expect(SMTPReceivedHeader.addressLiteral("2001:db8::1") == "[IPv6:2001:db8::1]")
        #expect(SMTPReceivedHeader.addressLiteral("192.0.2.1") == "[192.0.2.1]")
        #expect(SMTPReceivedHeader.addressLiteral("unknown") == "unknown")
        #expect(SMTPReceivedHeader.sanitise("evil\r\nX-Injected: yes") == "evil__X-Injected:_yes")
        #expect(SMTPReceivedHeader.sanitise(nil) == "unknown")
        var session = SMTPSessionInfo(id: "s", listenerName: "l", clientAddress: "192.0.2.1")
        #expect(SMTPReceivedHeader.protocolName(session) == "SMTP")
        session.usedEHLO = true
        #expect(SMTPReceivedHeader.protocolName(session) == "ESMTP")
        session.authenticatedUser = "u"
        #expect(SMTPReceivedHeader.protocolName(session) == "ESMTPA")
    }
}

@Suite("SMTP input deadlines")
struct SMTPInputDeadlineTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func make() -> SMTPInputDeadline {
        var limits = SMTPLimits()
        limits.commandTimeout = .seconds(300)
        limits.commandDeadline = .seconds(60)
        limits.minimumDataRate = 500
        return SMTPInputDeadline(limits: limits)
    }

    @Test("idle: the command timeout from when the server is ready")
    func idle() {
        var deadline = make()
        deadline.awaitingCommand(partial: false, progressed: false, now: t0)
        #expect(deadline.deadline == t0 + .seconds(300))
        // Nothing happened: the deadline stays.
        deadline.awaitingCommand(partial: false, progressed: false, now: t0 + .seconds(100))
        #expect(deadline.deadline == t0 + .seconds(300))
        // A command was handled: it restarts.
        deadline.awaitingCommand(partial: false, progressed: true, now: t0 + .seconds(100))
        #expect(deadline.deadline == t0 + .seconds(400))
    }

    @Test("a started command line gets the per-command deadline, not renewed by more bytes")
    func partialLine() {
        var deadline = make()
        deadline.awaitingCommand(partial: false, progressed: false, now: t0)
        deadline.awaitingCommand(partial: true, progressed: false, now: t0 + .seconds(10))
        #expect(deadline.deadline == t0 + .seconds(70))
        deadline.awaitingCommand(partial: true, progressed: false, now: t0 + .seconds(50))
        #expect(deadline.deadline == t0 + .seconds(70))
        #expect(deadline.isExpired(now: t0 + .seconds(70)))
        // A line completed and a new one started.
        deadline.awaitingCommand(partial: true, progressed: true, now: t0 + .seconds(60))
        #expect(deadline.deadline == t0 + .seconds(120))
    }

    @Test("content: credit per octet at the minimum rate, capped at the timeout from now")
    func content() {
        var deadline = make()
        deadline.receivingContent(now: t0)
        #expect(deadline.deadline == t0 + .seconds(300))
        deadline.contentReceived(50_000, now: t0 + .seconds(10))  // +100 s
        #expect(deadline.deadline == t0 + .seconds(310), "capped at now + 300 s")
        deadline.contentReceived(500, now: t0 + .seconds(200))  // +1 s
        #expect(deadline.deadline == t0 + .seconds(311))
        #expect(!deadline.isExpired(now: t0 + .seconds(310)))
        #expect(deadline.isExpired(now: t0 + .seconds(311)))
    }

    @Test("time the server spends busy does not count against the client")
    func suspension() {
        var deadline = make()
        deadline.receivingContent(now: t0)
        deadline.suspended(now: t0 + .seconds(10))
        #expect(deadline.deadline == nil)
        deadline.receivingContent(now: t0 + .seconds(70))
        #expect(deadline.deadline == t0 + .seconds(360))
        deadline.stop()
        #expect(deadline.deadline == nil)
    }

    @Test("caps: a message's transfer and the session's lifetime come before the input deadlines")
    func caps() {
        var limits = SMTPLimits()
        limits.maximumSessionDuration = .seconds(1000)
        limits.maximumDataDuration = .seconds(400)
        var deadline = SMTPInputDeadline(limits: limits)
        deadline.sessionStarted(now: t0)
        deadline.awaitingCommand(partial: false, progressed: false, now: t0)
        #expect(deadline.deadline == t0 + .seconds(300) && deadline.expiry == .input)
        deadline.receivingContent(now: t0 + .seconds(100))
        for second in stride(from: 150, through: 450, by: 50) {
            deadline.contentReceived(100_000, now: t0 + .seconds(Int64(second)))
        }
        #expect(deadline.deadline == t0 + .seconds(500) && deadline.expiry == .dataDuration)
        // Storage time is the server's: the cap moves with it.
        deadline.suspended(now: t0 + .seconds(450))
        deadline.receivingContent(now: t0 + .seconds(460))
        #expect(deadline.deadline == t0 + .seconds(510))
        deadline.awaitingCommand(partial: false, progressed: true, now: t0 + .seconds(800))
        #expect(deadline.deadline == t0 + .seconds(1000) && deadline.expiry == .sessionDuration)
        #expect(deadline.isExpired(now: t0 + .seconds(1000)))
    }
}

@Suite("SMTP connection counter")
struct SMTPConnectionCounterTests {
    @Test("total and per-client limits; releases free the slot")
    func limits() {
        var counter = SMTPConnectionCounter(maximumConnections: 3, maximumPerClient: 2)
        #expect(counter.admit(client: "a") == .admitted)
        #expect(counter.admit(client: "a") == .admitted)
        #expect(counter.admit(client: "a") == .tooManyFromClient)
        #expect(counter.admit(client: "b") == .admitted)
        #expect(counter.admit(client: "c") == .tooManyConnections)
        counter.release(client: "a")
        #expect(counter.admit(client: "c") == .admitted)
        #expect(counter.total == 3)
        for client in ["a", "b", "c"] { counter.release(client: client) }
        #expect(counter.total == 0)
        #expect(counter.perClient.isEmpty)
        counter.release(client: "never")
        #expect(counter.total == 0)
    }

    @Test("clients are counted by IPv4 address and by IPv6 /64; IPv4-mapped addresses as IPv4")
    func clientNetworks() throws {
        func key(_ address: String) throws -> String {
            SMTPClientNetwork.key(for: try SocketAddress(ipAddress: address, port: 25))
        }
        #expect(try key("192.0.2.1") == "192.0.2.1")
        #expect(try key("2001:db8:1:2::1") == "2001:db8:1:2::/64")
        #expect(try key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64")
        #expect(try key("2001:db8:1:3::1") == "2001:db8:1:3::/64")
        #expect(try key("::1") == "::/64")
        #expect(try key("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(SMTPClientNetwork.key(for: nil) == "unknown")
        // One host rotating addresses in its /64 meets the per-client limit.
        var counter = SMTPConnectionCounter(maximumConnections: 100, maximumPerClient: 2)
        #expect(counter.admit(client: try key("2001:db8::a")) == .admitted)
        #expect(counter.admit(client: try key("2001:db8::b")) == .admitted)
        #expect(counter.admit(client: try key("2001:db8::c")) == .tooManyFromClient)
        #expect(counter.admit(client: try key("2001:db8:0:1::c")) == .admitted)
    }
}

@Suite("SMTP message store")
struct SMTPMessageStoreTests {
    func envelope() -> SMTPEnvelope { SMTPEnvelope(id: "E", sender: .null) }
    func session() -> SMTPSessionInfo { SMTPSessionInfo(id: "S", listenerName: "l", clientAddress: "192.0.2.1") }

    func store(_ parts: [String], threshold: Int) async throws -> any SMTPStoredMessage {
        let sink = try await SMTPSpillingMessageStore(memoryThreshold: threshold).makeSink(envelope: envelope(), session: session())
        for part in parts {
            var buffer = ByteBuffer()
            buffer.writeString(part)
            try await sink.append(buffer)
        }
        return try await sink.finish()
    }

    static let parts = ["Received: x\r\n", "Subject: a\r", "\n\r", "\nbody line 1\r\n", String(repeating: "z", count: 5000), "\r\n"]

    @Test("small messages stay in memory, large ones spill to a file; content and size agree", arguments: [1_000_000, 10])
    func storeAndRead(threshold: Int) async throws {
        let message = try await store(Self.parts, threshold: threshold)
        let expected = Self.parts.joined()
        #expect(String(describing: type(of: message)) == (threshold > 10_000 ? "SMTPInMemoryMessage" : "SMTPTemporaryFileMessage"))
        #expect(message.byteCount == expected.utf8.count)
        #expect(try await message.readAll().string == expected)
        #expect(try await message.read(offset: 13, length: 10).string == "Subject: a")
        #expect(try await message.read(offset: expected.utf8.count - 2, length: 100).string == "\r\n")
        #expect(try await message.read(offset: expected.utf8.count + 5, length: 10).readableBytes == 0)
        var chunks: [Int] = []
        var joined = ""
        for try await chunk in message.chunks(size: 1000) {
            chunks.append(chunk.readableBytes)
            joined += chunk.string
        }
        #expect(joined == expected)
        #expect(chunks.dropLast().allSatisfy { $0 == 1000 })
    }

    @Test("after discard or finish the sink refuses more")
    func misuse() async throws {
        let sink = try await SMTPSpillingMessageStore(memoryThreshold: 4).makeSink(envelope: envelope(), session: session())
        var buffer = ByteBuffer()
        buffer.writeString("0123456789")
        try await sink.append(buffer)
        await sink.discard()
        await #expect(throws: SMTPStorageError.self) { try await sink.append(buffer) }
        await #expect(throws: SMTPStorageError.self) { _ = try await sink.finish() }
    }

    @Test("an unusable directory fails the append that needs the file")
    func badDirectory() async throws {
        let sink = try await SMTPSpillingMessageStore(memoryThreshold: 4, directory: "/nonexistent/graph-relay").makeSink(envelope: envelope(), session: session())
        var buffer = ByteBuffer()
        buffer.writeString("0123")
        try await sink.append(buffer)
        await #expect(throws: SMTPStorageError.self) { try await sink.append(buffer) }
    }
}

@Suite("SMTP file descriptor limit")
struct SMTPFileDescriptorLimitTests {
    @Test("raising to the hard limit")
    func raise() throws {
        let soft = try SMTPFileDescriptorLimit.raiseToHardLimit()
        let current = SMTPFileDescriptorLimit.current()
        #expect(current.soft == soft)
        #if os(Linux)
        #expect(current.soft == current.hard)
        #endif
    }
}
