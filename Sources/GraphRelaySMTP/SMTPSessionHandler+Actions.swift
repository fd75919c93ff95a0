import GraphRelayTLS
import Logging
import NIOCore

// What the handler does for each action of the machine. `drive` calls `step` for each; every
// method says whether to go on with the machine's next action, go on with a given one, or stop
// (the connection is closing, the machine waits for input or an answer).
extension SMTPSessionHandler {
    /// What ``drive(_:)`` does after an action.
    enum Step {
        /// Ask the machine for its next action.
        case next
        /// Go on with this action.
        case then(Action)
        /// Stop driving until an event arrives.
        case stop
    }

    func step(_ action: Action, context: ChannelHandlerContext) -> Step {
        switch action {
        case .reply(let reply):
            write(reply, context: context)
            return .next
        case .replyAndClose(let reply):
            replyAndClose(reply, context: context)
            return .stop
        case .refused(let reply):
            services.metrics.refused(code: reply.code)
            return .next
        case .close(let reason):
            logger.notice("closing connection", metadata: ["smtp.reason": "\(reason)"])
            flushIfNeeded()
            stopTimer()
            context.close(promise: nil)
            return .stop
        case .checkConnection(let session):
            let policy = services.policy
            run({ await policy.acceptConnection(session) }) { decision in
                self.machine.connectionDecided(decision)
            }
            return .next
        case .checkSender(let sender, let parameters, let session):
            checkSender(sender, parameters: parameters, session: session)
            return .next
        case .checkRecipient(let recipient, let envelope, let session):
            checkRecipient(recipient, envelope: envelope, session: session)
            return .next
        case .verifyCredentials(let username, let password, let session):
            verifyCredentials(username: username, password: password, session: session)
            return .next
        case .startTLS(let discarded):
            return startTLS(discarded: discarded, context: context)
        case .openSink(let envelope, let session):
            openSink(envelope: envelope, session: session)
            return .next
        case .appendToSink(let bytes):
            return appendToSink(bytes, context: context)
        case .deliver(let envelope, let session):
            return deliver(envelope: envelope, session: session)
        case .discardSink:
            discardSink()
            return .next
        case .needInput:
            flushIfNeeded()
            updateDeadline()
            resumeReadsIfHeld()
            return .stop
        case .wait:
            flushIfNeeded()
            updateDeadline()
            return .stop
        }
    }

    /// Writes the last reply and closes once it is on its way (with TLS: encrypted and written),
    /// or after `finalReplyTimeout` if the client does not read it.
    private func replyAndClose(_ reply: SMTPReply, context: ChannelHandlerContext) {
        logger.debug("closing", metadata: ["smtp.reply": "\(reply.code) \(reply.text)"])
        stopTimer()
        let written = context.eventLoop.makePromise(of: Void.self)
        write(reply, context: context, promise: written)
        flushIfNeeded()
        let hardClose = context.eventLoop.assumeIsolated().scheduleTask(in: machine.configuration.limits.finalReplyTimeout) {
            self.logger.notice("closing connection", metadata: ["smtp.reason": "the client did not read the last reply"])
            context.close(mode: .all, promise: nil)
        }
        written.futureResult.assumeIsolated().whenComplete { _ in
            hardClose.cancel()
            context.close(promise: nil)
        }
    }

    private func checkSender(_ sender: SMTPReversePath, parameters: SMTPMailParameters, session: SMTPSessionInfo) {
        let policy = services.policy
        run({ await policy.acceptSender(sender, parameters: parameters, session: session) }) { decision in
            if case .reject(let reply) = decision {
                self.logger.info("sender rejected", metadata: ["smtp.sender": "\(sender)", "smtp.reply": "\(reply.code)"])
            }
            return self.machine.senderDecided(decision)
        }
    }

    private func checkRecipient(_ recipient: SMTPForwardPath, envelope: SMTPEnvelope, session: SMTPSessionInfo) {
        let policy = services.policy
        run({ await policy.acceptRecipient(recipient, envelope: envelope, session: session) }) { decision in
            if case .reject(let reply) = decision {
                self.logger.info("recipient rejected", metadata: ["smtp.recipient": "\(recipient)", "smtp.reply": "\(reply.code)"])
            }
            return self.machine.recipientDecided(decision)
        }
    }

    /// Asks the authenticator; a failure is answered only after `authenticationFailureDelay`.
    private func verifyCredentials(username: String, password: String, session: SMTPSessionInfo) {
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
            case .failed:
                self.logger.info("authentication failed", metadata: ["smtp.user": "\(username)"])
                self.services.metrics.authenticationFailed()
            case .temporarilyUnavailable:
                self.logger.info("authentication not checked now", metadata: ["smtp.user": "\(username)"])
            }
            return self.machine.credentialsVerified(result)
        }
    }

    /// Puts a TLS handler in front of the pipeline; the handshake starts at once.
    private func startTLS(discarded: Int, context: ChannelHandlerContext) -> Step {
        flushIfNeeded()
        if discarded > 0 {
            logger.warning("discarded plaintext pipelined after STARTTLS", metadata: ["smtp.octets": "\(discarded)"])
        }
        guard let startTLSContext else {
            context.close(promise: nil)
            return .stop
        }
        do {
            let handler = try TLSHandler(context: startTLSContext, logger: logger)
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            logger.error("cannot start TLS", metadata: ["tls.error": "\(error)"])
            context.close(promise: nil)
            return .stop
        }
        return .next
    }

    private func openSink(envelope: SMTPEnvelope, session: SMTPSessionInfo) {
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
    }

    /// Small pieces are collected here and handed over in batches (or at the end of the
    /// message), not one task per read; the sink's operations run one after the other.
    private func appendToSink(_ piece: ByteBuffer, context: ChannelHandlerContext) -> Step {
        guard let sink else { return .then(machine.sinkAppended(success: false)) }
        var bytes = piece
        sinkBytes += bytes.readableBytes
        if sinkBatch.readableBytes + bytes.readableBytes < Self.sinkBatchSize {
            sinkBatch.writeBuffer(&bytes)
            return .then(machine.sinkAppended(success: true))
        }
        if sinkBatch.readableBytes > 0 {
            sinkBatch.writeBuffer(&bytes)
            bytes = sinkBatch
            sinkBatch = ByteBuffer()
        }
        let previous = lastSinkOperation
        let promise = context.eventLoop.makePromise(of: String?.self)
        let batch = bytes
        let task = Task {
            await previous?.value
            do {
                try await sink.append(batch)
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
        return .next
    }

    /// Finishes the sink and hands the message to the policy; small messages stay on the
    /// connection's event loop. One log line per message: what came in and what the device was told.
    private func deliver(envelope: SMTPEnvelope, session: SMTPSessionInfo) -> Step {
        guard let sink else { return .then(machine.delivered(.storageFailed)) }
        self.sink = nil
        let previous = lastSinkOperation
        lastSinkOperation = nil
        let rest = sinkBatch
        sinkBatch = ByteBuffer()
        let onEventLoop = sinkBytes <= Self.smallMessageSize
        sinkBytes = 0
        let policy = services.policy
        let metrics = services.metrics
        // The transaction's id, as in its `Received:` field ("with ESMTP id …"); the reply names the
        // queue id the spool gave it.
        let messageLogger = logger.with(metadataKey: "smtp.id", value: "\(envelope.id)")
        run(onEventLoop: onEventLoop, { () -> (reply: SMTPReply, size: Int?) in
            await previous?.value
            let content: any SMTPStoredMessage
            do {
                if rest.readableBytes > 0 {
                    try await sink.append(rest)
                }
                content = try await sink.finish()
            } catch {
                messageLogger.error("cannot store message", metadata: ["smtp.error": "\(error)"])
                return (.storageFailed, nil)
            }
            let reply = await policy.deliver(SMTPIncomingMessage(envelope: envelope, session: session, content: content))
            if reply.isPositive { metrics.messageAccepted(size: content.byteCount) }
            return (reply, content.byteCount)
        }, then: { answer in
            self.machine.delivered(answer.reply)
        }, afterward: { answer in
            // Logged once the reply is on its way: the device does not wait for the log line.
            // (A message that could not be stored was logged as such above.)
            guard let size = answer.size else { return }
            messageLogger.info("message answered", metadata: [
                "smtp.sender": "\(envelope.sender)", "smtp.recipients": "\(envelope.recipients.count)",
                "smtp.size": "\(size)", "smtp.reply": "\(answer.reply.code) \(answer.reply.text)",
            ])
        })
        return .next
    }
}
