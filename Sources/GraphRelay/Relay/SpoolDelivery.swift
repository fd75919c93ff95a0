import GraphRelayGraph
import GraphRelaySpool
import Logging

/// The delivery agent's `deliver` step: send a spooled message, exactly as stored, to its route's
/// mailbox, and translate Graph's answer into the scheduler's terms (delivered, transient and
/// whether ambiguous, throttled with Retry-After, token failure, permanent).
struct SpoolDelivery: Sendable {
    let clients: GraphClients
    let logger: Logger

    func deliver(_ message: SpooledMessage) async -> DeliveryOutcome {
        var logger = self.logger
        logger[metadataKey: "relay.spool-id"] = "\(message.id)"
        logger[metadataKey: "graph.application"] = "\(message.envelope.route.application)"
        guard let client = clients.client(for: message.envelope.route.application) else {
            return .permanent(reason: "application '\(message.envelope.route.application)' is no longer configured", status: "5.3.5")
        }
        let source = message.contents.map { GraphMessageSource.bytes($0) }
            ?? GraphMessageSource.sequence(byteCount: Int(message.record.size)) { message.bodyChunks() }
        let outcome = await client.sendMail(mailbox: message.envelope.route.mailbox, message: source, logger: logger)
        return Self.outcome(outcome)
    }

    static func outcome(_ outcome: GraphSendMailOutcome) -> DeliveryOutcome {
        switch outcome {
        case .accepted(let receipt):
            return .delivered(requestId: receipt.requestID)
        case .failed(let failure):
            let reason = "\(failure.smtpReply)"
            switch failure.kind {
            case .throttled:
                return .throttled(retryAfter: failure.retryAfter, requestId: failure.requestID)
            case .tokenFailure:
                return .tokenFailure(reason: reason)
            default:
                if failure.isPermanent {
                    return .permanent(reason: reason, status: failure.smtpReply.enhancedCode, requestId: failure.requestID)
                }
                return .transient(reason: reason, retryAfter: failure.retryAfter, ambiguous: failure.ambiguous, requestId: failure.requestID)
            }
        }
    }
}
