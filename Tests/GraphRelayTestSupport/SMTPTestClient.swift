import Foundation
import GraphRelayTLS
import NIOCore
import NIOPosix

/// One reply as a test client saw it.
public struct SMTPTestReply: Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    /// Each line without the code and separator, e.g. `2.0.0 Ok`.
    public var lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
    }

    /// The enhanced status code of the last line, e.g. `5.5.1`, if it has one.
    public var enhancedStatus: String? {
        guard let first = lines.last?.split(separator: " ").first else { return nil }
        let parts = first.split(separator: ".")
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return nil }
        return String(first)
    }

    /// `550 5.7.1` style: code and enhanced status.
    public var status: String { enhancedStatus.map { "\(code) \($0)" } ?? "\(code)" }

    public var text: String { lines.joined(separator: "\n") }
    public var description: String { lines.map { "\(code) \($0)" }.joined(separator: " | ") }
}

public enum SMTPTestClientError: Error, CustomStringConvertible {
    case timedOut(String)
    case closed(received: String)
    case malformedReply(String)

    public var description: String {
        switch self {
        case .timedOut(let what): "timed out waiting for \(what)"
        case .closed(let received): "connection closed (unparsed input: \(received.debugDescription))"
        case .malformedReply(let line): "malformed reply line \(line.debugDescription)"
        }
    }
}

/// A raw SMTP client for tests: sends exactly the bytes it is given, parses replies, can start TLS
/// (through GraphRelayTLS, client mode) in the middle of a session, and notices when the server
/// closes. Every wait has a time limit.
public final class SMTPTestClient: Sendable {
    public let channel: any Channel
    private let collector: NIOLoopBound<SMTPReplyCollector>

    private init(channel: any Channel, collector: NIOLoopBound<SMTPReplyCollector>) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects to `host:port`; with `implicitTLS` the TLS handshake starts at once.
    public static func connect(
        host: String = "127.0.0.1", port: Int, implicitTLS: TLSContext? = nil, serverHostname: String? = "localhost",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SMTPTestClient {
        // The collector is kept from the initializer: the server may close (and the pipeline drop
        // its handlers) before connect returns.
        let box = CollectorBox()
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let implicitTLS {
                        try channel.pipeline.syncOperations.addHandler(TLSHandler(context: implicitTLS, serverHostname: serverHostname))
                    }
                    let collector = SMTPReplyCollector()
                    try channel.pipeline.syncOperations.addHandler(collector)
                    box.set(NIOLoopBound(collector, eventLoop: channel.eventLoop))
                }
            }
            .connect(host: host, port: port).get()
        return SMTPTestClient(channel: channel, collector: box.get()!)
    }

    /// Sends `text` as is (include the CRLFs).
    public func send(_ text: String) async throws {
        try await send(bytes: Array(text.utf8))
    }

    public func send(bytes: [UInt8]) async throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await channel.writeAndFlush(buffer).get()
    }

    /// The next complete reply.
    public func readReply(timeout: TimeAmount = .seconds(30)) async throws -> SMTPTestReply {
        let collector = self.collector
        return try await channel.eventLoop.flatSubmit {
            collector.value.nextReply(timeout: timeout)
        }.get()
    }

    /// Sends `command` + CRLF and reads the reply.
    public func command(_ command: String, timeout: TimeAmount = .seconds(30)) async throws -> SMTPTestReply {
        try await send(command + "\r\n")
        return try await readReply(timeout: timeout)
    }

    /// Inserts a client TLS handler and waits for the handshake.
    @discardableResult
    public func startTLS(context: TLSContext, serverHostname: String? = "localhost", timeout: TimeAmount = .seconds(30)) async throws -> TLSConnectionInfo {
        let collector = self.collector
        let channel = self.channel
        return try await channel.eventLoop.flatSubmit {
            let future = collector.value.expectHandshake(timeout: timeout)
            do {
                let handler = try TLSHandler(context: context, serverHostname: serverHostname)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            return future
        }.get()
    }

    /// Waits until the server closes the connection. Returns false if it is still open after `timeout`.
    public func waitForClose(timeout: TimeAmount = .seconds(30)) async -> Bool {
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: timeout) {}
        let closed = channel.eventLoop.makePromise(of: Bool.self)
        channel.closeFuture.whenComplete { _ in closed.succeed(true) }
        timer.futureResult.whenComplete { _ in closed.succeed(false) }
        let result = (try? await closed.futureResult.get()) ?? false
        timer.cancel()
        return result
    }

    /// Replies received but not yet read.
    public func bufferedReplies() async throws -> [SMTPTestReply] {
        let collector = self.collector
        return try await channel.eventLoop.submit { collector.value.takeAll() }.get()
    }

    public func close() async {
        try? await channel.close().get()
    }
}

private final class CollectorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: NIOLoopBound<SMTPReplyCollector>?

    func set(_ value: NIOLoopBound<SMTPReplyCollector>) {
        lock.lock()
        defer { lock.unlock() }
        self.value = value
    }

    func get() -> NIOLoopBound<SMTPReplyCollector>? {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

/// Collects reply lines into replies, on the channel's event loop.
final class SMTPReplyCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var partial: [UInt8] = []
    private var lines: [String] = []
    private var replies: [SMTPTestReply] = []
    private var waiters: [(EventLoopPromise<SMTPTestReply>, Scheduled<Void>?)] = []
    private var handshake: (EventLoopPromise<TLSConnectionInfo>, Scheduled<Void>?)?
    private var closed = false
    private var failure: (any Error)?
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        partial.append(contentsOf: buffer.readableBytesView)
        while let lf = partial.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(partial[..<lf])
            partial.removeSubrange(...lf)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            let text = String(decoding: line, as: UTF8.self)
            guard text.utf8.count >= 3, let code = Int(text.prefix(3)) else {
                fail(SMTPTestClientError.malformedReply(text))
                continue
            }
            let separator = text.dropFirst(3).first
            lines.append(String(text.dropFirst(4)))
            if separator != "-" {
                replies.append(SMTPTestReply(code: code, lines: lines))
                lines = []
            }
        }
        deliver()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info)? = event as? TLSUserEvent, let (promise, timer) = handshake {
            handshake = nil
            timer?.cancel()
            promise.succeed(info)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        deliver()
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        if failure == nil { failure = error }
        if let (promise, timer) = handshake {
            handshake = nil
            timer?.cancel()
            promise.fail(error)
        }
    }

    private func deliver() {
        while !waiters.isEmpty, !replies.isEmpty {
            let (promise, timer) = waiters.removeFirst()
            timer?.cancel()
            promise.succeed(replies.removeFirst())
        }
        if closed {
            let error = failure ?? SMTPTestClientError.closed(received: String(decoding: partial, as: UTF8.self))
            for (promise, timer) in waiters {
                timer?.cancel()
                promise.fail(error)
            }
            waiters = []
            if let (promise, timer) = handshake {
                handshake = nil
                timer?.cancel()
                promise.fail(error)
            }
        }
    }

    func nextReply(timeout: TimeAmount) -> EventLoopFuture<SMTPTestReply> {
        let loop = context!.eventLoop
        let promise = loop.makePromise(of: SMTPTestReply.self)
        let timer = loop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            if let index = waiters.firstIndex(where: { $0.0.futureResult === promise.futureResult }) {
                waiters.remove(at: index)
                promise.fail(SMTPTestClientError.timedOut("a reply"))
            }
        }
        waiters.append((promise, timer))
        deliver()
        return promise.futureResult
    }

    func expectHandshake(timeout: TimeAmount) -> EventLoopFuture<TLSConnectionInfo> {
        let loop = context!.eventLoop
        let promise = loop.makePromise(of: TLSConnectionInfo.self)
        let timer = loop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            if handshake != nil {
                handshake = nil
                promise.fail(SMTPTestClientError.timedOut("the TLS handshake"))
            }
        }
        handshake = (promise, timer)
        if closed { deliver() }
        return promise.futureResult
    }

    func takeAll() -> [SMTPTestReply] {
        defer { replies = [] }
        return replies
    }
}

extension TLSContext {
    /// A client context trusting only the CA at `caFile` (e.g. `TestPKI.shared.caCertificate`).
    public static func testClient(trusting caFile: String) throws -> TLSContext {
        var configuration = TLSConfiguration.client()
        configuration.useSystemTrustRoots = false
        configuration.additionalTrustRoots = [.file(caFile)]
        return try TLSContext(configuration: configuration, role: .client)
    }
}
