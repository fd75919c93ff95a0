import Foundation
import GraphRelayMIME
import NIOCore
import NIOHTTP1

extension GraphEmulatorEngine {
    /// `POST /v1.0/users/{mailbox}/sendMail` with MIME content, validated like Graph:
    /// bearer token → faults → method → 4 MB limit → mailbox → access policy → Content-Type →
    /// strict base64 → message size → recipients → send-as; then 202 and the message is recorded.
    func sendMailReply(plan: GraphEmulatorPlan, mailbox: String, request: GraphEmulatorRequest) -> GraphEmulatorReply {
        // Authentication first, as Graph does.
        let token: GraphEmulatorState.IssuedToken
        switch authenticate(plan: plan, request: request) {
        case .refused(let reply): return reply
        case .token(let issued): token = issued
        }
        let (early, delay) = faultReply(plan: plan, request: request)
        if let early { return early }
        if let application = configuration.applications.first(where: { $0.clientID.lowercased() == token.clientID.lowercased() }),
            !application.permissions.contains("Mail.Send") {
            return graphError(403, code: "ErrorAccessDenied", message: "Access is denied. Check credentials and try again.", plan: plan, request: request)
        }
        if let throttled = uploadLimitReply(plan: plan, request: request, clientID: token.clientID, mailbox: mailbox) { return throttled }

        var reply = validateAndAccept(plan: plan, mailbox: mailbox, token: token, request: request)
        if plan.fault == .acceptThenDrop && reply.status == .accepted {
            reply = .drop()
        }
        reply.delay = delay
        return reply
    }

    private func validateAndAccept(plan: GraphEmulatorPlan, mailbox: String, token: GraphEmulatorState.IssuedToken,
                                   request: GraphEmulatorRequest) -> GraphEmulatorReply {
        guard request.head.method == .POST else {
            return graphError(405, code: "Request_BadRequest", message: "Specified HTTP method is not allowed for the request target.", plan: plan, request: request)
        }
        guard request.bodyBytes <= configuration.maxRequestBytes else {
            return graphError(413, code: "RequestEntityTooLarge", message: "The maximum request length supported is 4MB.", plan: plan, request: request)
        }
        guard let box = configuration.mailboxes.first(where: { $0.address.lowercased() == mailbox.lowercased() }) else {
            return graphError(404, code: "ErrorInvalidUser", message: "The requested user '\(mailbox)' is invalid.", plan: plan, request: request)
        }
        let application = configuration.applications.first { $0.clientID.lowercased() == token.clientID.lowercased() }
        if let allowed = application?.allowedMailboxes, !allowed.contains(where: { $0.lowercased() == mailbox.lowercased() }) {
            return graphError(403, code: "ErrorAccessDenied", message: "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.", plan: plan, request: request)
        }
        let contentType = request.head.headers.first(name: "Content-Type")?.lowercased() ?? ""
        guard contentType.hasPrefix("text/plain") else {
            return graphError(415, code: "UnsupportedMediaType",
                              message: "Content-Type '\(contentType)' is not supported for MIME content; use text/plain.", plan: plan, request: request)
        }
        guard request.bodyBytes > 0 else {
            return graphError(400, code: "ErrorMimeContentInvalidBase64String", message: "Invalid base64 string for MIME content.", plan: plan, request: request)
        }
        let decoded = request.body.withUnsafeReadableBytes { Base64.decode($0, padding: .required, ignoringWhitespace: true) }
        guard case .success(let mime) = decoded else {
            return graphError(400, code: "ErrorMimeContentInvalidBase64String", message: "Invalid base64 string for MIME content.", plan: plan, request: request)
        }
        guard mime.count <= configuration.maxMessageBytes else {
            return graphError(400, code: "ErrorMessageSizeExceeded", message: "The message exceeds the maximum supported size.", plan: plan, request: request)
        }
        let headers = MIMEHeaderScanner(mime)
        let recipients = headers.recipients
        guard !recipients.isEmpty else {
            return graphError(400, code: "ErrorInvalidRecipients", message: "At least one recipient is not valid., A message can't be sent because it contains no recipients.", plan: plan, request: request)
        }
        let invalid = Set(configuration.invalidRecipients.map { $0.lowercased() })
        if recipients.contains(where: { invalid.contains($0.lowercased()) }) {
            return graphError(400, code: "ErrorInvalidRecipients", message: "At least one recipient is not valid., Recipient is not valid.", plan: plan, request: request)
        }
        if configuration.enforceSendAs, let from = headers.from {
            let allowed = ([box.address] + box.sendAs).map { $0.lowercased() }
            if !allowed.contains(from.lowercased()) {
                return graphError(403, code: "ErrorSendAsDenied", message: "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account., Cannot submit message.", plan: plan, request: request)
            }
        }

        let now = Date()
        var message = GraphEmulatorMessage(
            mailbox: mailbox, mime: mime, requestID: plan.requestID,
            clientRequestID: request.head.headers.first(name: "client-request-id"), clientID: token.clientID,
            receivedAt: now, from: headers.from, to: headers.to, cc: headers.cc, bcc: headers.bcc, outboxPath: nil)
        if let directory = configuration.outboxDirectory {
            do {
                message.outboxPath = try GraphEmulatorOutbox(directory: directory).write(mime, mailbox: mailbox, requestID: plan.requestID, at: now)
            } catch {
                logger.error("cannot write to the outbox", metadata: ["emulator.outbox": "\(directory)", "emulator.error": "\(error)"])
            }
        }
        record(message)
        logger.debug("sendMail accepted", metadata: [
            "emulator.mailbox": "\(mailbox)", "emulator.request-id": "\(plan.requestID)", "emulator.bytes": "\(mime.count)",
            "emulator.recipients": "\(recipients.count)", "emulator.outbox-file": "\(message.outboxPath ?? "-")",
        ])
        return GraphEmulatorReply(status: .accepted)
    }
}
