import NIOCore
import NIOHTTP1

/// One admin connection: reads a request (its body is ignored), answers it from the
/// ``AdminRouter`` (in a task: metrics and the status page ask the delivery agent and the spool),
/// keeps the connection for the next one when the client asked to, and closes a connection idle
/// for the idle-state handler's timeout. NIO's pipelining handler holds a second request back
/// until the first is answered.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: AdminRouter
    private var head: HTTPRequestHead?

    init(router: AdminRouter) {
        self.router = router
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: AdminRouter.Response.self)
        let router = self.router
        promise.completeWithTask {
            await router.respond(method: head.method, uri: head.uri, headers: head.headers)
        }
        promise.futureResult.assumeIsolated().whenSuccess { response in
            self.write(response, for: head, context: context)
        }
    }

    private func write(_ response: AdminRouter.Response, for head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        body.writeString(response.body)
        var headers = HTTPHeaders([("Content-Type", response.contentType), ("Content-Length", "\(body.readableBytes)"),
                                   ("Cache-Control", "no-store")])
        headers.add(contentsOf: response.headers)
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        if !keepAlive {
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
