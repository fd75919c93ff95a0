#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GraphRelayTLS
import Logging
import NIOCore

/// Sent down a session's pipeline by ``SMTPServer/shutdown(gracePeriod:)``.
struct SMTPServerShutdownEvent: Sendable {}

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
    }

    /// Messages up to this size are delivered by a task on the event loop (when
    /// `hooksOnEventLoop`); the default store (``SMTPSpillingMessageStore``, 256 KiB in memory)
    /// keeps them in memory, so reading them back never blocks.
    static let smallMessageSize = 256 * 1024
    /// Message bytes collected on the event loop before they go to the sink in one append.
    static let sinkBatchSize = 64 * 1024

    private typealias Action = SMTPSessionStateMachine.Action

    private var machine: SMTPSessionStateMachine
    private var deadlines: SMTPInputDeadline
    private let services: Services
    /// The context STARTTLS uses (nil when the listener has none).
    private let startTLSContext: TLSContext?
    /// The connection limiter's reply when over a limit.
    private let rejection: SMTPReply?
    private var logger: Logger

    private var context: ChannelHandlerContext?
    private var sink: (any SMTPMessageSink)?
    /// The last sink operation, so appends and the discard run strictly in order.
    private var lastSinkOperation: Task<Void, Never>?
    /// Message bytes not yet handed to the sink (up to ``sinkBatchSize``), and all bytes so far.
    private var sinkBatch = ByteBuffer()
    private var sinkBytes = 0
    private var eventLoopExecutor: EventLoopTaskExecutor?
    private var queuedActions = CircularBuffer<Action>(initialCapacity: 2)
    private var driving = false
    private var readHeld = false
    /// Input arrived while the session awaited its own asynchronous work (see ``read(context:)``).
    private var inputWhileAwaiting = false
    private var pausedForWritability = false
    private var flushNeeded = false
    private var started = false
    private var closed = false
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var lastInputEventCount = 0

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

    private func start() {
        guard !started else { return }
        started = true
        deadlines.sessionStarted(now: now)
        logger.info("SMTP connection", metadata: ["smtp.tls": "\(machine.configuration.listener.tls)"])
        perform(machine.start(rejection: rejection))
    }

    func channelInactive(context: ChannelHandlerContext) {
        tearDown()
        context.fireChannelInactive()
    }

    private func tearDown() {
        guard !closed else { return }
        closed = true
        timer?.cancel()
        timer = nil
        machine.connectionClosed()
        discardSink()
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
                if machine.plaintextDroppedDuringHandshake > 0 {
                    logger.warning("discarded plaintext sent while STARTTLS was answered",
                                   metadata: ["smtp.octets": "\(machine.plaintextDroppedDuringHandshake)"])
                }
                perform(machine.tlsHandshakeCompleted(info))
            }
        case is SMTPServerShutdownEvent:
            perform(machine.shutdownRequested())
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let tlsError = error as? TLSError {
            logger.notice("TLS failed", metadata: ["tls.error": "\(tlsError)"])
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
    private var readsPaused: Bool {
        if pausedForWritability { return true }
        guard machine.awaitsApplication else { return false }
        return !services.hooksOnEventLoop || inputWhileAwaiting
    }

    private func resumeReadsIfHeld() {
        if !machine.awaitsApplication { inputWhileAwaiting = false }
        guard readHeld, !readsPaused, let context else { return }
        readHeld = false
        context.read()
    }

    // MARK: Performing actions

    private func perform(_ action: Action) {
        queuedActions.append(action)
        guard !driving else { return }
        driving = true
        defer { driving = false }
        while let next = queuedActions.popFirst() {
            drive(next)
        }
    }

    private func drive(_ first: Action) {
        guard let context, !closed else { return }
        var action = first
        while true {
            switch action {
            case .reply(let reply):
                write(reply, context: context)
            case .replyAndClose(let reply):
                logger.debug("closing", metadata: ["smtp.reply": "\(reply.code) \(reply.text)"])
                stopTimer()
                let written = context.eventLoop.makePromise(of: Void.self)
                write(reply, context: context, promise: written)
                flushIfNeeded()
                // Close once the reply is on its way (with TLS: encrypted and written), or after
                // finalReplyTimeout if the client does not read it.
                let hardClose = context.eventLoop.assumeIsolated().scheduleTask(in: machine.configuration.limits.finalReplyTimeout) {
                    self.logger.notice("closing connection", metadata: ["smtp.reason": "the client did not read the last reply"])
                    context.close(mode: .all, promise: nil)
                }
                written.futureResult.assumeIsolated().whenComplete { _ in
                    hardClose.cancel()
                    context.close(promise: nil)
                }
                return
            case .close(let reason):
                logger.notice("closing connection", metadata: ["smtp.reason": "\(reason)"])
                flushIfNeeded()
                stopTimer()
                context.close(promise: nil)
                return
            case .checkConnection(let session):
                let policy = services.policy
                run({ await policy.acceptConnection(session) }) { decision in
                    self.machine.connectionDecided(decision)
                }
            case .checkSender(let sender, let parameters, let session):
                let policy = services.policy
                run({ await policy.acceptSender(sender, parameters: parameters, session: session) }) { decision in
                    if case .reject(let reply) = decision {
                        self.logger.info("sender rejected", metadata: ["smtp.sender": "\(sender)", "smtp.reply": "\(reply.code)"])
                    }
                    return self.machine.senderDecided(decision)
                }
            case .checkRecipient(let recipient, let envelope, let session):
                let policy = services.policy
                run({ await policy.acceptRecipient(recipient, envelope: envelope, session: session) }) { decision in
                    if case .reject(let reply) = decision {
                        self.logger.info("recipient rejected", metadata: ["smtp.recipient": "\(recipient)", "smtp.reply": "\(reply.code)"])
                    }
                    return self.machine.recipientDecided(decision)
                }
            case .verifyCredentials(let username, let password, let session):
                let authenticator = services.authenticator
                let delay = machine.configuration.limits.authenticationFailureDelay
                run({
                    let result = await authenticator?.authenticate(username: username, password: password, session: session) ?? .failed
                    if result == .failed, delay > .zero {
                        try? await Task.sleep(nanoseconds: UInt64(delay.nanoseconds))
                    }
                    return result
                }) { result in
                    switch result {
                    case .succeeded: self.logger.info("authenticated", metadata: ["smtp.user": "\(username)"])
                    case .failed: self.logger.info("authentication failed", metadata: ["smtp.user": "\(username)"])
                    case .temporarilyUnavailable:
                        self.logger.info("authentication not checked now", metadata: ["smtp.user": "\(username)"])
                    }
                    return self.machine.credentialsVerified(result)
                }
            case .startTLS(let discarded):
                flushIfNeeded()
                if discarded > 0 {
                    logger.warning("discarded plaintext pipelined after STARTTLS", metadata: ["smtp.octets": "\(discarded)"])
                }
                guard let startTLSContext else {
                    context.close(promise: nil)
                    return
                }
                do {
                    let handler = try TLSHandler(context: startTLSContext, logger: logger)
                    try context.pipeline.syncOperations.addHandler(handler, position: .first)
                } catch {
                    logger.error("cannot start TLS", metadata: ["tls.error": "\(error)"])
                    context.close(promise: nil)
                    return
                }
            case .openSink(let envelope, let session):
                sinkBatch = ByteBuffer()
                sinkBytes = 0
                let store = services.messageStore
                run({ () -> Result<any SMTPMessageSink, any Error> in
                    do {
                        return .success(try await store.makeSink(envelope: envelope, session: session))
                    } catch {
                        return .failure(error)
                    }
                }) { result in
                    switch result {
                    case .success(let sink):
                        if self.closed || self.machine.isClosed {
                            Task { await sink.discard() }
                            return .wait
                        }
                        self.sink = sink
                        return self.machine.sinkOpened(success: true)
                    case .failure(let error):
                        self.logger.error("cannot store message", metadata: ["smtp.error": "\(error)"])
                        return self.machine.sinkOpened(success: false)
                    }
                }
            case .appendToSink(var bytes):
                guard let sink else {
                    action = machine.sinkAppended(success: false)
                    continue
                }
                sinkBytes += bytes.readableBytes
                // Small pieces are collected here and handed over in batches (or at the end of the
                // message), not one task per read.
                if sinkBatch.readableBytes + bytes.readableBytes < Self.sinkBatchSize {
                    sinkBatch.writeBuffer(&bytes)
                    action = machine.sinkAppended(success: true)
                    continue
                }
                if sinkBatch.readableBytes > 0 {
                    sinkBatch.writeBuffer(&bytes)
                    bytes = sinkBatch
                    sinkBatch = ByteBuffer()
                }
                let previous = lastSinkOperation
                let promise = context.eventLoop.makePromise(of: String?.self)
                let task = Task {
                    await previous?.value
                    do {
                        try await sink.append(bytes)
                        promise.succeed(nil)
                    } catch {
                        promise.succeed("\(error)")
                    }
                }
                lastSinkOperation = task
                promise.futureResult.assumeIsolated().whenSuccess { failure in
                    guard !self.closed else { return }
                    if let failure {
                        self.logger.error("cannot store message", metadata: ["smtp.error": "\(failure)"])
                    }
                    self.perform(self.machine.sinkAppended(success: failure == nil))
                }
            case .deliver(let envelope, let session):
                guard let sink else {
                    action = machine.delivered(.storageFailed)
                    continue
                }
                self.sink = nil
                let previous = lastSinkOperation
                lastSinkOperation = nil
                let rest = sinkBatch
                sinkBatch = ByteBuffer()
                let onEventLoop = sinkBytes <= Self.smallMessageSize
                sinkBytes = 0
                let policy = services.policy
                let messageLogger = logger.with(metadataKey: "relay.queue-id", value: "\(envelope.id)")
                run(onEventLoop: onEventLoop, { () -> SMTPReply in
                    await previous?.value
                    let content: any SMTPStoredMessage
                    do {
                        if rest.readableBytes > 0 {
                            try await sink.append(rest)
                        }
                        content = try await sink.finish()
                    } catch {
                        messageLogger.error("cannot store message", metadata: ["smtp.error": "\(error)"])
                        return .storageFailed
                    }
                    let reply = await policy.deliver(SMTPIncomingMessage(envelope: envelope, session: session, content: content))
                    // One line per message: what came in and what the device was told.
                    messageLogger.info("message answered", metadata: [
                        "smtp.sender": "\(envelope.sender)", "smtp.recipients": "\(envelope.recipients.count)",
                        "smtp.size": "\(content.byteCount)", "smtp.reply": "\(reply.code) \(reply.text)",
                    ])
                    return reply
                }) { reply in
                    self.machine.delivered(reply)
                }
            case .discardSink:
                discardSink()
            case .needInput:
                flushIfNeeded()
                updateDeadline()
                resumeReadsIfHeld()
                return
            case .wait:
                flushIfNeeded()
                updateDeadline()
                return
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
    private func run<Value: Sendable>(
        onEventLoop: Bool = true,
        _ operation: @escaping @Sendable () async -> Value,
        then handle: @escaping (Value) -> Action
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
            guard !self.closed else { return }
            self.perform(action)
        }
    }

    private func discardSink() {
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

    private func write(_ reply: SMTPReply, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        if reply.code >= 400 {
            logger.debug("error reply", metadata: ["smtp.reply": "\(reply.code) \(reply.text)"])
        }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: promise)
        flushNeeded = true
    }

    private func flushIfNeeded() {
        guard flushNeeded, let context else { return }
        flushNeeded = false
        context.flush()
    }

    // MARK: Deadlines

    /// The event loop's clock (virtual in tests).
    private var now: NIODeadline { context?.eventLoop.now ?? .now() }

    private func updateDeadline() {
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
    private func armTimer() {
        guard let context, let deadline = deadlines.deadline else { return }
        if let timerDeadline, timerDeadline <= deadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired()
        }
    }

    private func timerFired() {
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

    private func stopTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        deadlines.stop()
    }
}

@available(*, unavailable)
extension SMTPSessionHandler: Sendable {}
