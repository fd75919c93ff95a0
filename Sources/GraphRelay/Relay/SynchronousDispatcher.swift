import Foundation
import GraphRelayDelivery
import GraphRelayGraph
import GraphRelaySMTP
import Logging

/// `delivery: synchronous`: the device gets its reply only after Graph answered — `250` after
/// `202 Accepted`, the mapped `4xx`/`5xx` otherwise — so nothing is lost without a spool: the
/// device keeps the message until it hears `250`.
struct SynchronousDispatcher: RelayDispatcher {
    let delivery: GraphDelivery
    let hostname: String
    let maxHeaderSize: Int
    /// Told of each delivery (metrics, status page).
    var report: @Sendable (DeliveryReport) -> Void = { _ in }

    func dispatch(_ message: SMTPIncomingMessage, route: RouteMatch, logger: Logger) async -> SMTPReply {
        let received = Date()
        guard delivery.clients.client(for: route.application) != nil else {
            logger.error("route names an application without a Graph client", metadata: ["graph.application": "\(route.application)"])
            return .internalError
        }
        let outgoing: OutgoingMessage
        do {
            outgoing = try await OutgoingMessage.prepare(message, route: route, hostname: hostname, maxHeaderSize: maxHeaderSize)
        } catch {
            logger.warning("message refused before delivery: \(error)")
            return error.reply
        }
        logger.debug("headers prepared", metadata: [
            "relay.bcc-added": "\(outgoing.rewrite.recipients.addedToBcc.count)",
            "relay.from-rewritten": "\(outgoing.rewrite.from?.changed ?? false)",
            "relay.message-id": "\(outgoing.rewrite.messageID ?? "-")",
        ])
        let (outcome, _) = await delivery.deliver(GraphDelivery.Message(
            content: outgoing.content, application: route.application, mailbox: route.mailbox, messageID: outgoing.rewrite.messageID
        ), logger: logger)
        report(DeliveryReport(
            queueID: message.envelope.id, messageID: outgoing.rewrite.messageID, sender: "\(message.envelope.sender)",
            recipients: message.envelope.recipients.count, size: outgoing.source.byteCount, application: route.application,
            mailbox: route.mailbox, attempt: 1, receivedAt: received, finishedAt: Date(), outcome: SpoolDelivery.outcome(outcome)
        ))
        switch outcome {
        case .accepted(let receipt):
            logger.info("delivered to Microsoft Graph", metadata: [
                "graph.mailbox": "\(route.mailbox)", "graph.request-id": "\(receipt.requestID ?? "-")",
                "graph.client-request-id": "\(receipt.clientRequestID)", "relay.size": "\(outgoing.source.byteCount)", "relay.recipients": "\(message.envelope.recipients.count)",
                "relay.route": "\(route)",
            ])
            return SMTPReply(250, "2.0.0", "Ok: delivered as \(message.envelope.id)"
                + (receipt.requestID.map { " (graph request-id \($0))" } ?? ""))
        case .failed(let failure):
            logger.warning("Graph refused or failed the message: \(failure)", metadata: [
                "graph.mailbox": "\(route.mailbox)", "graph.request-id": "\(failure.requestID ?? "-")",
                "graph.client-request-id": "\(failure.clientRequestID ?? "-")", "graph.ambiguous": "\(failure.ambiguous)",
            ])
            return SMTPReply(outcome.smtpReply)
        }
    }
}

extension SMTPReply {
    /// The Graph client's reply mapping as an SMTP reply.
    init(_ reply: GraphSMTPReply) {
        self.init(reply.code, reply.enhancedCode, reply.text)
    }

    /// A policy decision of the relay core as an SMTP reply.
    init(_ reply: PolicyReply) {
        self.init(reply.code, reply.enhancedCode, reply.text)
    }
}
