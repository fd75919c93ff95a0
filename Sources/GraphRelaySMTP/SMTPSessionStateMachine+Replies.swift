import GraphRelayMIME
import GraphRelayTLS
import NIOCore

// Replies, errors, policy rejections, closing, and how a policy's or Graph's reply is normalized.
extension SMTPSessionStateMachine {
    // MARK: Helpers

    mutating func resetTransaction() {
        discardOpenSink()
        transaction = nil
    }

    mutating func discardOpenSink() {
        if transaction?.sinkOpen == true {
            transaction?.sinkOpen = false
            pending.append(.discardSink)
        }
    }

    mutating func reply(_ reply: SMTPReply) {
        pending.append(.reply(reply))
        if reply.code >= 400 {
            countError()
        }
    }

    mutating func countError() {
        errorCount += 1
        if errorCount >= configuration.limits.maximumErrors {
            close(with: .tooManyErrors(hostname: configuration.hostname))
        }
    }

    /// Answers a refused MAIL FROM, RCPT TO or message: says so (``Action/refused(_:)``), then replies.
    mutating func refuse(_ rejection: SMTPReply) {
        pending.append(.refused(rejection))
        reply(rejection)
    }

    mutating func policyRejected(_ rejection: SMTPReply) {
        let normalized = Self.normalizedRejection(rejection)
        pending.append(.refused(normalized))
        if normalized.code == 421 {
            close(with: normalized)
        } else {
            reply(normalized)
        }
    }

    /// Queues the last reply and closes; later events are ignored.
    mutating func close(with reply: SMTPReply) {
        guard !isClosed else { return }
        discardOpenSink()
        state = .closed
        suspension = nil
        pending.append(.replyAndClose(reply))
    }

    /// A policy rejection must be 4xx/5xx, with an enhanced status of the same class.
    static func normalizedRejection(_ reply: SMTPReply) -> SMTPReply {
        guard (400...599).contains(reply.code) else { return .internalError }
        return matchingStatusClass(reply)
    }

    /// A delivery answer must be 2xx, 4xx or 5xx.
    static func normalizedDeliveryReply(_ reply: SMTPReply) -> SMTPReply {
        guard (200...299).contains(reply.code) || (400...599).contains(reply.code) else { return .internalError }
        return matchingStatusClass(reply)
    }

    static func matchingStatusClass(_ reply: SMTPReply) -> SMTPReply {
        var reply = reply
        if var status = reply.enhancedStatusCode, status.statusClass != reply.code / 100 {
            status.statusClass = reply.code / 100
            reply.enhancedStatusCode = status
        }
        return reply
    }
}
