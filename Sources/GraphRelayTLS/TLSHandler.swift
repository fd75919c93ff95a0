import Logging
import NIOCore

/// A SwiftNIO handler that speaks TLS through the system OpenSSL, in server or client mode.
///
/// Place it first in the pipeline: at channel set-up for implicit TLS and HTTPS, or inserted into a
/// live plaintext channel for STARTTLS (the handshake starts as soon as it is added to an active
/// channel). Inbound it turns ciphertext into application bytes, outbound the reverse. It sends
/// ``TLSUserEvent/handshakeCompleted(_:)`` once the handshake is done and fires ``TLSError`` (then
/// closes) on failure.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var stateMachine: TLSHandlerStateMachine
    private let connection: OpenSSLConnection
    private let handshakeTimeout: TimeAmount
    private let serverHostname: String?
    private var logger: Logger
    private var bufferedWrites: CircularBuffer<(ByteBuffer, EventLoopPromise<Void>?)> = []
    private var handshakeTimer: Scheduled<Void>?

    /// What the handshake negotiated, once it completed.
    public private(set) var connectionInfo: TLSConnectionInfo?

    /// - Parameters:
    ///   - context: the shared OpenSSL context; its role decides server or client mode.
    ///   - serverHostname: client mode: the name to send as SNI and to verify the certificate against.
    ///   - logger: receives handshake results at debug level (`tls.*` metadata).
    public init(context: TLSContext, serverHostname: String? = nil, logger: Logger = Logger(label: "graph-relay.tls")) throws {
        self.connection = try context.makeConnection(serverHostname: serverHostname)
        self.stateMachine = TLSHandlerStateMachine(role: context.role)
        self.handshakeTimeout = context.configuration.handshakeTimeout
        self.serverHostname = serverHostname
        self.logger = logger
        self.logger[metadataKey: "tls.role"] = "\(context.role.rawValue)"
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            start(context: context)
        }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        failBufferedWrites(TLSError(.writeAfterClose, role: connection.role, peer: peer(context)))
    }

    private func start(context: ChannelHandlerContext) {
        switch stateMachine.channelActive() {
        case .startHandshake(let sendClientHello):
            let loop = context.eventLoop.assumeIsolated()
            handshakeTimer = loop.scheduleTask(in: handshakeTimeout) { [self] in
                self.handshakeTimerFired(context: context)
            }
            if sendClientHello {
                stepHandshake(context: context)
            }
        case .none:
            break
        }
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch stateMachine.bytesReceived() {
        case .continueHandshake:
            connection.receiveFromNetwork(bytes)
            stepHandshake(context: context)
        case .readApplicationData:
            connection.receiveFromNetwork(bytes)
            readApplicationData(context: context)
        case .discard:
            break
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        switch stateMachine.channelInactive() {
        case .failClosedDuringHandshake:
            let error = TLSError(.closedDuringHandshake, role: connection.role, peer: peer(context))
            failBufferedWrites(error)
            context.fireErrorCaught(error)
        case .raggedEOF:
            logger.debug("TLS connection ended without close_notify", metadata: ["tls.peer": "\(peer(context))"])
        case .closed:
            break
        }
        context.fireChannelInactive()
    }

    private func stepHandshake(context: ChannelHandlerContext) {
        let outcome: TLSHandlerStateMachine.HandshakeOutcome
        switch connection.doHandshake() {
        case .complete: outcome = .complete
        case .wantMore: outcome = .wantMore
        case .failed(let reasons):
            outcome = .failed(TLSError(.handshakeFailed, role: connection.role, peer: peer(context), reasons: reasons))
        }
        switch stateMachine.handshakeStepped(outcome) {
        case .completed(let flushBufferedWrites):
            handshakeTimer?.cancel()
            handshakeTimer = nil
            flushNetworkOutput(context: context)
            let info = connection.info
            connectionInfo = info
            logger.debug("TLS handshake completed", metadata: [
                "tls.peer": "\(peer(context))", "tls.version": "\(info.version)", "tls.cipher": "\(info.cipher)",
            ])
            context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(info))
            sendBufferedWrites(context: context, flush: flushBufferedWrites)
            // Application data may have arrived in the same read as the last handshake flight.
            if stateMachine.isActive {
                readApplicationData(context: context)
            }
        case .waitForMore:
            flushNetworkOutput(context: context)
        case .fail(let error):
            handshakeTimer?.cancel()
            handshakeTimer = nil
            fail(error, context: context)
        case .none:
            break
        }
    }

    private func readApplicationData(context: ChannelHandlerContext) {
        let (data, end) = connection.readPlaintext(allocator: context.channel.allocator)
        if let data {
            context.fireChannelRead(wrapInboundOut(data))
        }
        let action = stateMachine.readStopped(end, error: {
            if case .failed(let reasons) = end {
                return TLSError(.protocolError, role: self.connection.role, peer: self.peer(context), reasons: reasons)
            }
            return TLSError(.protocolError, role: self.connection.role, peer: self.peer(context))
        }())
        switch action {
        case .waitForMore:
            // Reading can produce output too (TLS 1.3 key updates).
            flushNetworkOutput(context: context)
        case .answerCloseNotify:
            context.fireUserInboundEventTriggered(TLSUserEvent.closeNotifyReceived)
            connection.shutdown()
            flushNetworkOutput(context: context, thenClose: true)
        case .fail(let error):
            fail(error, context: context)
        case .none:
            break
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        switch stateMachine.writeRequested() {
        case .buffer:
            bufferedWrites.append((bytes, promise))
        case .encrypt:
            encryptAndWrite(bytes, promise: promise, context: context)
        case .fail:
            promise?.fail(TLSError(.writeAfterClose, role: connection.role, peer: peer(context)))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch stateMachine.flushRequested() {
        case .flush: context.flush()
        case .deferUntilHandshake: break
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch stateMachine.closeRequested() {
        case .sendCloseNotifyThenClose:
            connection.shutdown()
            if let output = connection.takeNetworkOutput(allocator: context.channel.allocator) {
                context.writeAndFlush(wrapOutboundOut(output), promise: nil)
            }
            context.close(mode: .all, promise: promise)
        case .closeNow:
            handshakeTimer?.cancel()
            handshakeTimer = nil
            failBufferedWrites(TLSError(.writeAfterClose, role: connection.role, peer: peer(context)))
            context.close(mode: .all, promise: promise)
        case .forward:
            context.close(mode: mode, promise: promise)
        }
    }

    private func encryptAndWrite(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        if let reasons = connection.writePlaintext(bytes) {
            let error = TLSError(.protocolError, role: connection.role, peer: peer(context), reasons: reasons)
            promise?.fail(error)
            fail(error, context: context)
            return
        }
        if let output = connection.takeNetworkOutput(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(output), promise: promise)
        } else {
            promise?.succeed()
        }
    }

    private func sendBufferedWrites(context: ChannelHandlerContext, flush: Bool) {
        while stateMachine.isActive, let (bytes, promise) = bufferedWrites.popFirst() {
            encryptAndWrite(bytes, promise: promise, context: context)
        }
        if flush && stateMachine.isActive {
            context.flush()
        }
    }

    private func failBufferedWrites(_ error: Error) {
        while let (_, promise) = bufferedWrites.popFirst() {
            promise?.fail(error)
        }
    }

    // MARK: Helpers

    private func flushNetworkOutput(context: ChannelHandlerContext, thenClose: Bool = false) {
        if let output = connection.takeNetworkOutput(allocator: context.channel.allocator) {
            context.writeAndFlush(wrapOutboundOut(output), promise: nil)
        }
        if thenClose {
            context.close(promise: nil)
        }
    }

    private func handshakeTimerFired(context: ChannelHandlerContext) {
        handshakeTimer = nil
        guard stateMachine.handshakeTimerFired() == .fail else { return }
        let error = TLSError(.handshakeTimeout, role: connection.role, peer: peer(context),
                             reasons: ["no handshake within \(handshakeTimeout.nanoseconds / 1_000_000) ms"])
        failBufferedWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Sends any alert OpenSSL queued, fails buffered writes, reports the error and closes.
    private func fail(_ error: TLSError, context: ChannelHandlerContext) {
        logger.debug("TLS failed", metadata: ["tls.peer": "\(peer(context))", "tls.error": "\(error)"])
        flushNetworkOutput(context: context)
        failBufferedWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func peer(_ context: ChannelHandlerContext) -> String {
        if let serverHostname, connection.role == .client {
            if let port = context.channel.remoteAddress?.port { return "\(serverHostname):\(port)" }
            return serverHostname
        }
        guard let address = context.channel.remoteAddress else { return "unknown" }
        if let ip = address.ipAddress, let port = address.port { return "\(ip):\(port)" }
        return "\(address)"
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
