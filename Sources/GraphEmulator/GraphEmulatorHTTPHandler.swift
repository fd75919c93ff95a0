import NIOCore
import NIOHTTP1

/// One emulator connection: collects each request (head, body up to the plan's limit), asks the
/// engine for the reply and performs it — respond (after an optional delay) or drop the
/// connection. Keep-alive follows the request.
final class GraphEmulatorHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private struct Exchange {
        var head: HTTPRequestHead
        var plan: GraphEmulatorPlan
        var body: ByteBuffer
        var bodyBytes: Int
        var ended = false
    }

    private let engine: GraphEmulatorEngine
    private let secure: Bool
    /// This connection came to the instance metadata listener.
    private let instanceMetadata: Bool
    private var exchange: Exchange?
    private var closed = false

    init(engine: GraphEmulatorEngine, secure: Bool, instanceMetadata: Bool = false) {
        self.engine = engine
        self.secure = secure
        self.instanceMetadata = instanceMetadata
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            endExchange()
            let plan = engine.begin(head: head, instanceMetadata: instanceMetadata)
            exchange = Exchange(head: head, plan: plan, body: context.channel.allocator.buffer(capacity: 0), bodyBytes: 0)
        case .body(var buffer):
            guard var current = exchange, !current.ended else { return }
            current.bodyBytes += buffer.readableBytes
            if current.body.readableBytes < current.plan.retainLimit {
                let keep = min(buffer.readableBytes, current.plan.retainLimit - current.body.readableBytes)
                if var slice = buffer.readSlice(length: keep) {
                    current.body.writeBuffer(&slice)
                }
            }
            exchange = current
            if current.plan.dropsDuringBody {
                drop(context: context)
            }
        case .end:
            guard var current = exchange, !current.ended else { return }
            current.ended = true
            exchange = current
            let request = GraphEmulatorRequest(head: current.head, secure: secure, body: current.body, bodyBytes: current.bodyBytes)
            let reply = engine.finish(current.plan, request: request)
            let keepAlive = current.head.isKeepAlive
            if let delay = reply.delay, delay > .zero {
                let loop = context.eventLoop.assumeIsolated()
                loop.scheduleTask(in: delay) { [self] in
                    self.perform(reply, keepAlive: keepAlive, context: context)
                }
            } else {
                perform(reply, keepAlive: keepAlive, context: context)
            }
        }
    }

    private func perform(_ reply: GraphEmulatorReply, keepAlive: Bool, context: ChannelHandlerContext) {
        guard !closed else { return }
        switch reply.disposition {
        case .drop:
            drop(context: context)
        case .respond:
            var headers = reply.headers
            headers.replaceOrAdd(name: "Content-Length", value: String(reply.body.readableBytes))
            if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
            let head = HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if reply.body.readableBytes > 0 {
                context.write(wrapOutboundOut(.body(.byteBuffer(reply.body))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            endExchange()
            if !keepAlive {
                closed = true
                let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
                done.whenComplete { _ in loopContext.value.close(promise: nil) }
            }
        }
    }

    private func drop(context: ChannelHandlerContext) {
        endExchange()
        closed = true
        context.close(promise: nil)
    }

    private func endExchange() {
        if let current = exchange {
            engine.end(current.plan)
            exchange = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        endExchange()
        closed = true
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Malformed HTTP or TLS failure: answer 400 if possible, then close.
        if error is HTTPParserError, !closed {
            let body = ByteBuffer(string: #"{"error":{"code":"BadRequest","message":"Malformed HTTP request."}}"#)
            let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: [
                "Content-Type": "application/json", "Content-Length": String(body.readableBytes), "Connection": "close",
            ])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        endExchange()
        closed = true
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension GraphEmulatorHTTPHandler: Sendable {}
