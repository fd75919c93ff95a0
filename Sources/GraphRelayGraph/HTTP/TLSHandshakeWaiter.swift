import GraphRelayTLS
import NIOCore

/// Sits behind ``TLSHandler`` while a client connection is being set up and reports the end of the
/// handshake: success with what was negotiated, or the TLS error, or the connection closing first.
final class TLSHandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let promise: EventLoopPromise<TLSConnectionInfo>

    var handshakeCompleted: EventLoopFuture<TLSConnectionInfo> { promise.futureResult }

    init(eventLoop: EventLoop) {
        self.promise = eventLoop.makePromise()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? TLSUserEvent {
            promise.succeed(info)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(HTTP1ClientHandler.classify(error))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(HTTPClientError(.tlsFailed, detail: "the server closed the connection during the TLS handshake"))
        context.fireChannelInactive()
    }

    /// Fails the wait when the waiter could not be added to the pipeline.
    func abandon(_ error: any Error) {
        promise.fail(error)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise.fail(HTTPClientError(.tlsFailed, detail: "connection set-up abandoned"))
    }
}

@available(*, unavailable)
extension TLSHandshakeWaiter: Sendable {}
