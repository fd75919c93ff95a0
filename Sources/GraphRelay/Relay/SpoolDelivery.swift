import GraphRelayDelivery
import GraphRelayGraph
import GraphRelaySpool
import Logging

/// The delivery agent's `deliver` step: send a spooled message, exactly as stored, to its route's
/// mailbox, and translate Graph's answer into the scheduler's terms (delivered, transient and
/// whether ambiguous, throttled with Retry-After, token failure, permanent).
struct SpoolDelivery: Sendable {
    let delivery: GraphDelivery
    let spool: Spool
    let logger: Logger

    func deliver(_ message: SpooledMessage) async -> DeliveryOutcome {
        var logger = self.logger
        logger[metadataKey: "relay.spool-id"] = "\(message.id)"
        logger[metadataKey: "graph.application"] = "\(message.envelope.route.application)"
        guard delivery.clients.client(for: message.envelope.route.application) != nil else {
            return .permanent(reason: "application '\(message.envelope.route.application)' is no longer configured", status: "5.3.5")
        }
        let spool = self.spool
        let id = message.id
        let content = MessageContent(byteCount: Int(message.record.size), whole: message.contents) { offset, length in
            try await message.read(at: offset, length: length)
        }
        let (outcome, earlier) = await delivery.deliver(GraphDelivery.Message(
            content: content, application: message.envelope.route.application, mailbox: message.envelope.route.mailbox,
            messageID: message.record.messageId, savedDraft: message.record.draft,
            checkpoint: { draft in try await spool.recordDraft(id, draft) }
        ), logger: logger)
        if earlier {
            logger.info("an earlier attempt's send had gone through: delivered once, not sent again")
        }
        return Self.outcome(outcome)
    }

    /// Removes the draft a message given up still names (its lifetime ran out while Graph
    /// could not be reached to finish or delete it).
    func abandon(_ record: SpoolRecord) async {
        guard let draft = record.draft, let id = draft.id, let client = delivery.clients.client(for: record.route.application) else { return }
        var logger = self.logger
        logger[metadataKey: "relay.spool-id"] = "\(record.id)"
        if case .failure(let failure) = await client.deleteDraft(mailbox: draft.mailbox, draftID: id, logger: logger) {
            logger.warning("could not delete the draft of a message given up; it stays in the mailbox's Drafts folder",
                           metadata: ["graph.draft-id": "\(id)", "graph.mailbox": "\(draft.mailbox)", "relay.reason": "\(failure)"])
        }
    }

    static func outcome(_ outcome: GraphSendMailOutcome) -> DeliveryOutcome {
        switch outcome {
        case .accepted(let receipt):
            return .delivered(requestId: receipt.requestID, clientRequestId: receipt.clientRequestID)
        case .failed(let failure):
            let reason = "\(failure.smtpReply)"
            switch failure.kind {
            case .throttled:
                return .throttled(retryAfter: failure.retryAfter, requestId: failure.requestID, clientRequestId: failure.clientRequestID)
            case .tokenFailure:
                return .tokenFailure(reason: reason)
            default:
                if failure.isPermanent {
                    return .permanent(reason: reason, status: failure.smtpReply.enhancedCode, requestId: failure.requestID,
                                      clientRequestId: failure.clientRequestID)
                }
                return .transient(reason: reason, retryAfter: failure.retryAfter, ambiguous: failure.ambiguous, requestId: failure.requestID,
                                  clientRequestId: failure.clientRequestID)
            }
        }
    }
}
