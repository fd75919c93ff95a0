import Logging
import NIOCore

/// First in the pipeline of a PROXY-protocol listener: holds the connection silent until the
/// proxy's header is complete (``ProxyHeaderStateMachine``), then hands the header to
/// `established` — which sets up the SMTP session behind this handler — passes on the bytes that
/// followed the header, and removes itself. A malformed header, or none within `timeout`, closes
/// the connection without a banner.
final class SMTPProxyHeaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var machine = ProxyHeaderStateMachine()
    private let timeout: TimeAmount
    private let logger: Logger
    private let established: (ProxyHeader, ChannelHandlerContext) throws -> Void
    private var timer: Scheduled<Void>?
    private var done = false

    init(timeout: TimeAmount, logger: Logger, established: @escaping (ProxyHeader, ChannelHandlerContext) throws -> Void) {
        self.timeout = timeout
        self.logger = logger
        self.established = established
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            guard !handler.done else { return }
            handler.fail("no PROXY header within \(handler.timeout.nanoseconds / 1_000_000) ms", context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        switch machine.bytesReceived(unwrapInboundIn(data)) {
        case .needMore:
            break
        case .reject(let reason):
            fail(reason, context: context)
        case .header(let header, let remainder):
            done = true
            timer?.cancel()
            do {
                try established(header, context)
            } catch {
                logger.error("cannot set up the session after the PROXY header", metadata: ["smtp.error": "\(error)"])
                context.close(promise: nil)
                return
            }
            if remainder.readableBytes > 0 {
                context.fireChannelRead(wrapInboundOut(remainder))
                context.fireChannelReadComplete()
            }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func fail(_ reason: String, context: ChannelHandlerContext) {
        done = true
        logger.warning("connection closed: PROXY protocol header refused", metadata: ["smtp.reason": "\(reason)"])
        context.close(promise: nil)
    }
}
