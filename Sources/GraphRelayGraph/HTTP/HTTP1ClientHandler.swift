import GraphRelayTLS
import Logging
import NIOCore
import NIOHTTP1

/// The thin NIO side of ``HTTP1ConnectionStateMachine``: it sits after the HTTP encoder/decoder,
/// feeds the machine the response parts and the calls of ``HTTP1Connection`` (all on the event
/// loop), and performs the actions: writing request parts, completing promises, running the
/// request and idle timers, closing.
final class HTTP1ClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// The outcome handed back to ``HTTP1Connection``: the response and whether the connection
    /// can go back to the pool.
    struct Result: Sendable {
        var response: HTTPClientResponse
        var reusable: Bool
    }

    private var stateMachine: HTTP1ConnectionStateMachine
    private var context: ChannelHandlerContext?
    private var resultPromise: EventLoopPromise<Result>?
    private var requestTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private let logger: Logger

    init(maxResponseBodySize: Int, logger: Logger) {
        self.stateMachine = HTTP1ConnectionStateMachine(maxResponseBodySize: maxResponseBodySize)
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
    }

    // MARK: Calls from HTTP1Connection (on the event loop)

    func startRequest(head: HTTPRequestHead, bodyLength: Int?, timeout: TimeAmount, promise: EventLoopPromise<Result>) {
        idleTimer?.cancel()
        idleTimer = nil
        let action = stateMachine.startRequest(head: head, bodyLength: bodyLength)
        if case .sendRequestHead = action {
            resultPromise = promise
            if let context {
                let loop = context.eventLoop.assumeIsolated()
                requestTimer = loop.scheduleTask(in: timeout) { [self] in
                    self.requestTimer = nil
                    self.perform(self.stateMachine.requestTimeoutFired(after: timeout), writePromise: nil)
                }
            }
            perform(action, writePromise: nil)
        } else if case .failRequest(let error, _) = action {
            promise.fail(error)
        }
    }

    func writeBodyPart(_ buffer: ByteBuffer, promise: EventLoopPromise<Void>) {
        switch stateMachine.bodyPartOffered(count: buffer.readableBytes) {
        case .writeBodyPart:
            guard let context else { return promise.fail(HTTPClientError(.connectionClosed, detail: "handler removed")) }
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: promise)
        case .writeLastBodyPart:
            guard let context else { return promise.fail(HTTPClientError(.connectionClosed, detail: "handler removed")) }
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: promise)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case let action:
            perform(action, writePromise: promise)
        }
    }

    func endBody(promise: EventLoopPromise<Void>) {
        perform(stateMachine.bodyEndOffered(), writePromise: promise)
    }

    func cancelRequest(_ error: HTTPClientError) {
        perform(stateMachine.requestCancelled(error), writePromise: nil)
    }

    func startIdleTimer(_ timeout: TimeAmount) {
        guard let context, stateMachine.isIdle else { return }
        idleTimer?.cancel()
        let loop = context.eventLoop.assumeIsolated()
        idleTimer = loop.scheduleTask(in: timeout) { [self] in
            self.idleTimer = nil
            self.perform(self.stateMachine.idleTimeoutFired(), writePromise: nil)
        }
    }

    func close() {
        perform(stateMachine.closeRequested(), writePromise: nil)
    }

    // MARK: Pipeline events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            perform(stateMachine.responseHeadReceived(head), writePromise: nil)
        case .body(let buffer):
            perform(stateMachine.responseBodyReceived(buffer), writePromise: nil)
        case .end:
            perform(stateMachine.responseEndReceived(), writePromise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        perform(stateMachine.errorCaught(Self.classify(error)), writePromise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        perform(stateMachine.channelInactive(), writePromise: nil)
        context.fireChannelInactive()
    }

    // MARK: Actions

    private func perform(_ action: HTTP1ConnectionStateMachine.Action, writePromise: EventLoopPromise<Void>?) {
        switch action {
        case .sendRequestHead(let head, let sendEnd):
            guard let context else { return }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if sendEnd {
                context.write(wrapOutboundOut(.end(nil)), promise: nil)
            }
            context.flush()
        case .writeBodyPart, .writeLastBodyPart:
            // Handled by writeBodyPart, which owns the bytes.
            writePromise?.fail(HTTPClientError(.protocolError, detail: "unexpected write action"))
        case .succeedWrite:
            writePromise?.succeed()
        case .failWrite(let error):
            writePromise?.fail(error)
        case .succeedRequest(let response, let afterwards):
            requestTimer?.cancel()
            requestTimer = nil
            writePromise?.fail(HTTPClientError(.connectionClosed, detail: "the server answered before the request body was complete"))
            let promise = resultPromise
            resultPromise = nil
            finish(afterwards)
            promise?.succeed(Result(response: response, reusable: afterwards == .keepAlive))
        case .failRequest(let error, let afterwards):
            requestTimer?.cancel()
            requestTimer = nil
            writePromise?.fail(error)
            let promise = resultPromise
            resultPromise = nil
            finish(afterwards)
            promise?.fail(error)
        case .close:
            cancelTimers()
            context?.close(promise: nil)
        case .none:
            break
        }
    }

    private func finish(_ afterwards: HTTP1ConnectionStateMachine.Afterwards) {
        switch afterwards {
        case .close:
            cancelTimers()
            context?.close(promise: nil)
        case .keepAlive, .none:
            break
        }
    }

    private func cancelTimers() {
        requestTimer?.cancel()
        requestTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
    }

    /// Maps pipeline errors to the client's error kinds.
    static func classify(_ error: Error) -> HTTPClientError {
        switch error {
        case let error as HTTPClientError:
            return error
        case let error as TLSError:
            if error.kind == .handshakeTimeout {
                return HTTPClientError(.connectTimeout, detail: error.description)
            }
            return HTTPClientError(.tlsFailed, detail: error.description)
        case let error as HTTPParserError:
            return HTTPClientError(.protocolError, detail: "invalid HTTP response: \(error)")
        case let error as IOError:
            return HTTPClientError(.connectionClosed, detail: "\(error)")
        default:
            return HTTPClientError(.connectionClosed, detail: "\(error)")
        }
    }
}

@available(*, unavailable)
extension HTTP1ClientHandler: Sendable {}
