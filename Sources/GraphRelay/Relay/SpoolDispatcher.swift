import Foundation
import GraphRelayDelivery
import GraphRelaySMTP
import GraphRelaySpool
import Logging

/// `delivery: queue` (the default): the message — headers already rewritten, a `Message-ID`
/// added when missing — is written to the spool, fsynced and renamed into place before the device
/// hears `250 2.0.0 Ok: queued as ID`. Any storage failure answers `451 4.3.0`, and nothing
/// half-written is ever delivered. The ``DeliveryAgent`` takes it from there.
struct SpoolDispatcher: RelayDispatcher {
    let spool: Spool
    let hostname: String
    let maxHeaderSize: Int

    func dispatch(_ message: SMTPIncomingMessage, route: RouteMatch, logger: Logger) async -> SMTPReply {
        let outgoing: OutgoingMessage
        do {
            outgoing = try await OutgoingMessage.prepare(message, route: route, hostname: hostname, maxHeaderSize: maxHeaderSize)
        } catch {
            logger.warning("message refused before queueing: \(error)")
            return error.reply
        }
        let writer: SpoolWriter
        do {
            writer = try spool.makeWriter(messageId: outgoing.rewrite.messageID)
        } catch {
            logger.error("cannot queue the message: \(error)")
            return .storageFailed
        }
        var session: [String: String] = [
            "smtp-id": message.envelope.id, "session": message.session.id, "client": message.session.clientAddress,
        ]
        if let user = message.session.authenticatedUser { session["user"] = user }
        let envelope = SpoolEnvelope(
            sender: message.envelope.sender.address,
            recipients: message.envelope.recipients.map(\.address),
            route: SpoolRoute(application: route.application, mailbox: route.mailbox, rewriteFrom: route.rewriteFrom),
            receivedAt: Date(),
            attributes: session
        )
        do {
            try await outgoing.source.forEachChunk { chunk in try await writer.append(chunk) }
            let record = try await writer.commit(envelope)
            // Debug: the listener logs the message and its reply (`queued as ID`) at info, and the
            // delivery agent the mailbox and application when it is delivered.
            logger.debug("queued", metadata: [
                "relay.spool-id": "\(record.id)", "graph.mailbox": "\(route.mailbox)",
                "relay.size": "\(record.size)", "relay.recipients": "\(envelope.recipients.count)",
                "relay.bcc-added": "\(outgoing.rewrite.recipients.addedToBcc.count)", "relay.route": "\(route)",
            ])
            return .queued(as: record.id.rawValue)
        } catch {
            await writer.abort()
            logger.error("cannot queue the message: \(error)")
            return .storageFailed
        }
    }
}
