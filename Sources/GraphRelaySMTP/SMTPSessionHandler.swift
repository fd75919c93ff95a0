#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GraphRelayTLS
import Logging
import NIOCore

/// Sent down a session's pipeline by ``SMTPServer/shutdown(gracePeriod:)``.
struct SMTPServerShutdownEvent: Sendable {
    /// The drain timeout passed: close now, even in the middle of a transaction.
    var force = false
}

/// Drives one ``SMTPSessionStateMachine`` on a channel: feeds it the bytes read, performs its
/// actions (writes replies, calls the policy, authenticator and message sink off the event loop and
/// hops back with their answers, inserts the TLS handler for STARTTLS), keeps one timer for the
/// input deadline, and holds reads while an asynchronous answer is pending or the peer is not
/// reading its replies (back-pressure).
final class SMTPSessionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What every session of a server shares.
    struct Services: Sendable {
        var policy: any SMTPPolicy
        var authenticator: (any SMTPAuthenticator)?
        var messageStore: any SMTPMessageStore
        /// Run the hooks and the delivery of messages up to ``smallMessageSize`` as tasks on the
        /// connection's event loop (``EventLoopTaskExecutor``) instead of Swift's global executor:
        /// a hook that does not suspend then costs no thread switch. ``SMTPServer`` sets it;
        /// handler tests on test event loops leave it off.
        var hooksOnEventLoop = false
        var metrics = SMTPServerMetrics.disabled
    }

    /// Messages up to this size are delivered by a task on the event loop (when
    /// `hooksOnEventLoop`); the default store (``SMTPSpillingMessageStore``, 256 KiB in memory)
    /// keeps them in memory, so reading them back never blocks.
    static let smallMessageSize = 256 * 1024
    /// Message bytes collected on the event loop before they go to the sink in one append.
    static let sinkBatchSize = 64 * 1024

    typealias Action = SMTPSessionStateMachine.Action

    var machine: SMTPSessionStateMachine
    var deadlines: SMTPInputDeadline
    let services: Services
    /// The context STARTTLS uses (nil when the listener has none).
    let startTLSContext: TLSContext?
    /// The connection limiter's reply when over a limit.
    let rejection: SMTPReply?
    var logger: Logger

    var context: ChannelHandlerContext?
    var sink: (any SMTPMessageSink)?
    /// The last sink operation, so appends and the discard run strictly in order.
    var lastSinkOperation: Task<Void, Never>?
    /// Message bytes not yet handed to the sink (up to ``sinkBatchSize``), and all bytes so far.
    var sinkBatch = ByteBuffer()
    var sinkBytes = 0
    var eventLoopExecutor: EventLoopTaskExecutor?
    var queuedActions = CircularBuffer<Action>(initialCapacity: 2)
    var driving = false
    var readHeld = false
    /// Input arrived while the session awaited its own asynchronous work (see ``read(context:)``).
    var inputWhileAwaiting = false
    var pausedForWritability = false
    var flushNeeded = false
    var started = false
    var closed = false
    var timer: Scheduled<Void>?
    var timerDeadline: NIODeadline?
    var lastInputEventCount = 0

    init(
        configuration: SMTPSessionStateMachine.Configuration, session: SMTPSessionInfo, services: Services,
        startTLSContext: TLSContext?, rejection: SMTPReply?, logger: Logger
    ) {
        self.machine = SMTPSessionStateMachine(configuration: configuration, session: session, clock: { Int(time(nil)) })
        self.deadlines = SMTPInputDeadline(limits: configuration.limits)
        self.services = services
        self.startTLSContext = startTLSContext
        self.rejection = rejection
        self.logger = logger
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if services.hooksOnEventLoop {
            eventLoopExecutor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
        }
        if context.channel.isActive {
            start()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        tearDown()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start()
        context.fireChannelActive()
    }

    func start() {
        guard !started else { return }
        started = true
        deadlines.sessionStarted(now: now)
        services.metrics.sessionStarted()
        logger.info("SMTP connection", metadata: ["smtp.tls": "\(machine.configuration.listener.tls)"])
        perform(machine.start(rejection: rejection))
    }

    func channelInactive(context: ChannelHandlerContext) {
        tearDown()
        context.fireChannelInactive()
    }

    func tearDown() {
        guard !closed else { return }
        closed = true
        timer?.cancel()
        timer = nil
        machine.connectionClosed()
        discardSink()
        if started { services.metrics.sessionEnded() }
        logger.info("SMTP disconnected", metadata: ["smtp.errors": "\(machine.errorCount)"])
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if machine.awaitsApplication {
            inputWhileAwaiting = true
        }
        if machine.inputPhase == .message {
            deadlines.contentReceived(bytes.readableBytes, now: context.eventLoop.now)
        }
        perform(machine.bytesReceived(bytes))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let tlsEvent as TLSUserEvent:
            if case .handshakeCompleted(let info) = tlsEvent {
                logger.info("TLS established", metadata: ["tls.version": "\(info.version)", "tls.cipher": "\(info.cipher)"])
                services.metrics.tlsHandshakeCompleted(version: info.version)
                if machine.plaintextDroppedDuringHandshake > 0 {
                    logger.warning("discarded plaintext sent while STARTTLS was answered",
                                   metadata: ["smtp.octets": "\(machine.plaintextDroppedDuringHandshake)"])
                }
                perform(machine.tlsHandshakeCompleted(info))
            }
        case let shutdown as SMTPServerShutdownEvent:
            perform(machine.shutdownRequested(force: shutdown.force))
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let tlsError = error as? TLSError {
            logger.notice("TLS failed", metadata: ["tls.error": "\(tlsError)"])
            if machine.tlsInfo == nil { services.metrics.tlsHandshakeFailed() }
        } else {
            logger.debug("connection error", metadata: ["smtp.error": "\(error)"])
        }
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, pausedForWritability {
            pausedForWritability = false
            perform(machine.nextAction())
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Reads stop while the session waits for its own asynchronous work (not for the connection
    /// policy, so input before the greeting is seen, and never for a TLS handshake) or for the peer
    /// to read its replies.
    ///
    /// With `hooksOnEventLoop` the stop is lazy: a hook on the event loop usually answers within
    /// the same loop iteration, and a client that waits for its reply sends nothing meanwhile, so
    /// reads stop only once input has actually arrived during the wait (at most one more read's
    /// worth is then buffered). Turning read interest off and on again around every command would
    /// cost two `epoll_ctl` calls each time for nothing.
    var readsPaused: Bool {
        if pausedForWritability { return true }
        guard machine.awaitsApplication else { return false }
        return !services.hooksOnEventLoop || inputWhileAwaiting
    }

    func resumeReadsIfHeld() {
        if !machine.awaitsApplication { inputWhileAwaiting = false }
        guard readHeld, !readsPaused, let context else { return }
        readHeld = false
        context.read()
    }

    // MARK: Performing actions

    func perform(_ action: Action) {
        queuedActions.append(action)
        guard !driving else { return }
        driving = true
        defer { driving = false }
        while let next = queuedActions.popFirst() {
            drive(next)
        }
    }

    /// Performs `first` and the actions that follow it (``step(_:context:)``), until the machine
    /// waits, the connection closes, or the client stops reading its replies.
    private func drive(_ first: Action) {
        guard let context, !closed else { return }
        var action = first
        while true {
            switch step(action, context: context) {
            case .stop:
                return
            case .then(let following):
                action = following
                continue
            case .next:
                break
            }
            if closed { return }
            if !context.channel.isWritable {
                pausedForWritability = true
                flushIfNeeded()
                updateDeadline()
                return
            }
            action = machine.nextAction()
        }
    }

    /// Runs `operation` off the event loop and feeds its result back to the machine on the loop.
    ///
    /// With `hooksOnEventLoop` (and `onEventLoop`) the task prefers the connection's event loop.
    func run<Value: Sendable>(
        onEventLoop: Bool = true,
        _ operation: @escaping @Sendable () async -> Value,
        then handle: @escaping (Value) -> Action,
        afterward: ((Value) -> Void)? = nil
    ) {
        guard let context else { return }
        let promise = context.eventLoop.makePromise(of: Value.self)
        if onEventLoop, let executor = eventLoopExecutor {
            Task(executorPreference: executor) {
                promise.succeed(await operation())
            }
        } else {
            promise.completeWithTask(operation)
        }
        promise.futureResult.assumeIsolated().whenSuccess { value in
            let action = handle(value)
            if !self.closed { self.perform(action) }
            afterward?(value)
        }
    }

    func discardSink() {
        sinkBatch = ByteBuffer()
        sinkBytes = 0
        guard let sink else { return }
        self.sink = nil
        let previous = lastSinkOperation
        lastSinkOperation = Task {
            await previous?.value
            await sink.discard()
        }
    }

    func write(_ reply: SMTPReply, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        if reply.code >= 400 {
            logger.debug("error reply", metadata: ["smtp.reply": "\(reply.code) \(reply.text)"])
        }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: promise)
        flushNeeded = true
    }

    func flushIfNeeded() {
        guard flushNeeded, let context else { return }
        flushNeeded = false
        context.flush()
    }

    // MARK: Deadlines

    /// The event loop's clock (virtual in tests).
    var now: NIODeadline { context?.eventLoop.now ?? .now() }

    func updateDeadline() {
        let now = self.now
        switch machine.inputPhase {
        case .closed:
            deadlines.stop()
        case .suspended:
            deadlines.suspended(now: now)
        case .message:
            deadlines.receivingContent(now: now)
        case .command:
            let count = machine.inputEventCount
            deadlines.awaitingCommand(partial: machine.hasPartialInput, progressed: count != lastInputEventCount, now: now)
            lastInputEventCount = count
        }
        armTimer()
    }

    /// One timer at a time; a timer due earlier than the deadline simply re-arms when it fires.
    func armTimer() {
        guard let context, let deadline = deadlines.deadline else { return }
        if let timerDeadline, timerDeadline <= deadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired()
        }
    }

    func timerFired() {
        timer = nil
        timerDeadline = nil
        guard !closed else { return }
        if deadlines.isExpired(now: now) {
            logger.notice("timeout", metadata: ["smtp.phase": "\(machine.inputPhase)", "smtp.limit": "\(deadlines.expiry)"])
            perform(machine.timedOut(deadlines.expiry))
        } else {
            armTimer()
        }
    }

    func stopTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        deadlines.stop()
    }
}

@available(*, unavailable)
extension SMTPSessionHandler: Sendable {}
