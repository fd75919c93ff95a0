import NIOCore

/// The thin NIO side of ``HTTPConnectProxyStateMachine``: first in the pipeline of a connection to
/// the proxy, it sends CONNECT when the channel is active and fulfils ``tunnelEstablished`` when
/// the proxy agrees (the connection factory then removes it and adds TLS and HTTP).
final class HTTPConnectProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var stateMachine: HTTPConnectProxyStateMachine
    private let promise: EventLoopPromise<Void>

    var tunnelEstablished: EventLoopFuture<Void> { promise.futureResult }

    /// Fails the wait when the handler could not be added to the pipeline.
    func abandon(_ error: any Error) {
        promise.fail(error)
    }

    init(target: HTTPEndpoint, proxy: HTTPProxyConfiguration, eventLoop: EventLoop) {
        self.stateMachine = HTTPConnectProxyStateMachine(
            target: target, proxyDescription: proxy.endpointDescription, authorization: proxy.authorizationHeader)
        self.promise = eventLoop.makePromise()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            perform(stateMachine.channelActive(), context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise.fail(HTTPClientError(.proxyFailed, detail: "proxy handler removed before the tunnel was established"))
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(stateMachine.channelActive(), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(stateMachine.bytesReceived(unwrapInboundIn(data)), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(stateMachine.channelInactive(), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        perform(stateMachine.errorCaught(error), context: context)
    }

    private func perform(_ action: HTTPConnectProxyStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .sendConnect(let request):
            context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        case .established:
            promise.succeed()
        case .fail(let error):
            promise.fail(error)
            context.close(promise: nil)
        case .waitForMore, .none:
            break
        }
    }
}

@available(*, unavailable)
extension HTTPConnectProxyHandler: Sendable {}
