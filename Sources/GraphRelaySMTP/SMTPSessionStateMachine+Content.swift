import GraphRelayMIME
import GraphRelayTLS
import NIOCore

// Message content: DATA and BDAT chunks into the sink, and the end of a message.
extension SMTPSessionStateMachine {
    // MARK: Content

    mutating func chunkCommand(size: Int, last: Bool) {
        func reject(_ rejection: SMTPReply) {
            resetTransaction()
            decoder.beginMessage()
            state = .chunk(size: size, last: last, rejection: rejection)
        }
        guard var current = transaction else { return reject(.badSequence("need MAIL command")) }
        guard !current.envelope.recipients.isEmpty else {
            return reject(current.rejectedRecipients > 0 ? .noValidRecipients : .badSequence("need RCPT command"))
        }
        guard size <= configuration.limits.maximumMessageSize - current.octets else { return reject(.messageTooBig) }
        state = .chunk(size: size, last: last, rejection: nil)
        if !current.usedChunking {
            current.usedChunking = true
            transaction = current
            decoder.beginMessage()
            suspension = .sinkOpen(.chunk)
            pending.append(.openSink(current.envelope, session))
        }
    }

    mutating func content(_ bytes: ByteBuffer) {
        // A rejected chunk has no transaction: its octets are dropped.
        guard var current = transaction else { return }
        current.octets += bytes.readableBytes
        if current.octets > configuration.limits.maximumMessageSize, !current.oversize {
            // Keep reading to the end, store nothing more.
            current.oversize = true
            if current.sinkOpen {
                current.sinkOpen = false
                pending.append(.discardSink)
            }
        }
        if current.sinkOpen, !current.storageFailed {
            suspension = .sinkAppend
            pending.append(.appendToSink(bytes))
        }
        transaction = current
    }

    mutating func chunkEnded(_ defects: SMTPInboundDecoder.ContentDefects) {
        guard case .chunk(let size, let last, let rejection) = state else { return }
        state = .commands
        if let rejection { return reply(rejection) }
        guard let current = transaction else { return }
        if current.storageFailed {
            resetTransaction()
            return refuse(.storageFailed)
        }
        if last {
            finishMessage(defects)
        } else {
            reply(.chunkReceived(size))
        }
    }

    mutating func finishMessage(_ defects: SMTPInboundDecoder.ContentDefects) {
        guard let current = transaction else { return }
        let rejection: SMTPReply?
        if current.oversize {
            rejection = .messageTooBig
        } else if configuration.listener.lineEndings == .strict, !defects.isDisjoint(with: [.bareLF, .bareCR]) {
            rejection = .bareLineEndingInMessage
        } else if defects.contains(.longLine) {
            rejection = .messageLineTooLong(configuration.limits.maximumTextLineLength)
        } else if current.storageFailed {
            rejection = .storageFailed
        } else {
            rejection = nil
        }
        if let rejection {
            resetTransaction()
            return refuse(rejection)
        }
        suspension = .delivery
        pending.append(.deliver(current.envelope, session))
    }
}
