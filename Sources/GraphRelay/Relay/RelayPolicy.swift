import GraphRelaySMTP
import Logging

/// The relay's answers to the SMTP listener: who may send (trusted networks, authenticated users
/// and their allowed senders), which route a sender takes, and what happens to a finished message.
struct RelayPolicy: SMTPPolicy {
    let access: AccessPolicy
    let router: Router
    let dispatcher: any RelayDispatcher
    let logger: Logger
    /// Listeners with `requireHeaderFromMatch: true` (by ``SMTPSessionInfo/listenerName``).
    var headerFromMatchListeners: Set<String> = []
    /// `spool.minimumFreeSpace` on the spool's file system; nil: no check.
    var storage: StorageSpace?

    private func sessionLogger(_ session: SMTPSessionInfo) -> Logger {
        var logger = self.logger
        logger[metadataKey: "relay.session"] = "\(session.id)"
        logger[metadataKey: "relay.client"] = "\(session.clientAddress)"
        if let user = session.authenticatedUser { logger[metadataKey: "relay.user"] = "\(user)" }
        return logger
    }

    private func route(for sender: SMTPReversePath, session: SMTPSessionInfo) -> RoutingDecision {
        router.route(sender: EnvelopeSender(sender.address), authenticatedUser: session.authenticatedUser,
                     client: IPAddress(session.clientAddress))
    }

    func acceptSender(_ sender: SMTPReversePath, parameters: SMTPMailParameters, session: SMTPSessionInfo) async -> SMTPDecision {
        let logger = sessionLogger(session)
        let decision = access.checkSender(EnvelopeSender(sender.address), client: IPAddress(session.clientAddress),
                                          authenticatedUser: session.authenticatedUser)
        guard case .allowed(let grant) = decision else {
            if case .denied(let reply) = decision {
                logger.notice("sender refused: \(reply)", metadata: ["relay.sender": "\(sender)"])
                return .reject(SMTPReply(reply))
            }
            return .reject(.internalError)
        }
        if let storage, !storage.hasRoom(for: parameters.size) {
            logger.warning("sender refused: less than spool.minimumFreeSpace (\(storage.minimum) bytes) would be left free",
                           metadata: ["relay.sender": "\(sender)", "relay.spool": "\(storage.directory)"])
            return .reject(SMTPReply(452, "4.3.1", "Insufficient system storage, try again later"))
        }
        let routing = route(for: sender, session: session)
        guard let match = routing.match else {
            let reply = routing.rejection ?? PolicyReply(code: 550, enhancedCode: "5.7.1", text: "No route for this sender")
            logger.notice("no route for sender: \(routing)", metadata: ["relay.sender": "\(sender)"])
            return .reject(SMTPReply(reply))
        }
        // Debug here; the line that queues or delivers the message names the route at info.
        logger.debug("route decision: \(match)", metadata: ["relay.sender": "\(sender)", "relay.grant": "\(grant)"])
        return .accept
    }

    func acceptRecipient(_ recipient: SMTPForwardPath, envelope: SMTPEnvelope, session: SMTPSessionInfo) async -> SMTPDecision {
        // Graph decides deliverability; the listener enforces the recipient limit.
        .accept
    }

    func deliver(_ message: SMTPIncomingMessage) async -> SMTPReply {
        var logger = sessionLogger(message.session)
        logger[metadataKey: "relay.queue-id"] = "\(message.envelope.id)"
        // The route was checked at MAIL FROM; the configuration cannot have changed since.
        guard var match = route(for: message.envelope.sender, session: message.session).match else {
            logger.error("route vanished between MAIL FROM and end of data")
            return .internalError
        }
        if headerFromMatchListeners.contains(message.session.listenerName) { match.requireHeaderFromMatch = true }
        var routed = logger
        routed[metadataKey: "graph.application"] = "\(match.application)"
        return await dispatcher.dispatch(message, route: match, logger: routed)
    }
}
