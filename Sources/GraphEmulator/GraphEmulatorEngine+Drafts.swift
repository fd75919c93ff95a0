import Foundation
import GraphRelayMIME
import NIOCore
import NIOHTTP1

/// The draft path, written from Microsoft's documentation of `POST /users/{id}/messages` (MIME
/// or JSON), `GET`/`DELETE …/messages/{id}`, `POST …/attachments`, `createUploadSession`, the
/// upload URL, and `POST …/send`; as strict as Graph where it is documented: 4 MB per request,
/// 3 MB minimum and 150 MB maximum per upload session, chunks in multiples of 320 KiB, no
/// `Authorization` on the upload URL, 404 for a draft that was sent or deleted.
extension GraphEmulatorEngine {
    func draftPathReply(plan: GraphEmulatorPlan, request: GraphEmulatorRequest) -> GraphEmulatorReply {
        if case .upload(let session) = plan.route {
            return uploadReply(plan: plan, session: session, request: request)
        }
        let token: GraphEmulatorState.IssuedToken
        switch authenticate(plan: plan, request: request) {
        case .refused(let reply): return reply
        case .token(let issued): token = issued
        }
        guard let operation = plan.operation, let mailbox = plan.mailbox else {
            return graphError(405, code: "Request_BadRequest", message: "Specified HTTP method is not allowed for the request target.",
                              plan: plan, request: request)
        }
        let (early, delay) = faultReply(plan: plan, request: request)
        if let early { return early }
        guard let box = configuration.mailboxes.first(where: { $0.address.lowercased() == mailbox.lowercased() }) else {
            return graphError(404, code: "ErrorInvalidUser", message: "The requested user '\(mailbox)' is invalid.", plan: plan, request: request)
        }
        let application = configuration.applications.first { $0.clientID.lowercased() == token.clientID.lowercased() }
        if let allowed = application?.allowedMailboxes, !allowed.contains(where: { $0.lowercased() == mailbox.lowercased() }) {
            return graphError(403, code: "ErrorAccessDenied", message: "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.", plan: plan, request: request)
        }
        let needed: Set<String> = operation == .sendDraft ? ["Mail.Send", "Mail.ReadWrite"] : ["Mail.ReadWrite"]
        guard needed.isSubset(of: application?.permissions ?? []) else {
            return graphError(403, code: "ErrorAccessDenied", message: "Access is denied. Check credentials and try again.", plan: plan, request: request)
        }
        guard request.bodyBytes <= configuration.maxRequestBytes else {
            return graphError(413, code: "RequestEntityTooLarge", message: "The maximum request length supported is 4MB.", plan: plan, request: request)
        }
        if let throttled = uploadLimitReply(plan: plan, request: request, clientID: token.clientID, mailbox: mailbox) { return throttled }

        var reply: GraphEmulatorReply
        switch operation {
        case .createDraft: reply = createDraft(plan: plan, request: request, mailbox: mailbox, clientID: token.clientID)
        case .draftState: reply = draftState(plan: plan, request: request, mailbox: mailbox)
        case .deleteDraft: reply = deleteDraft(plan: plan, request: request, mailbox: mailbox)
        case .findDrafts: reply = findDrafts(plan: plan, request: request, mailbox: mailbox)
        case .addAttachment: reply = addAttachment(plan: plan, request: request, mailbox: mailbox)
        case .createUploadSession: reply = createUploadSession(plan: plan, request: request, mailbox: mailbox, clientID: token.clientID)
        case .sendDraft: reply = sendDraft(plan: plan, request: request, mailbox: box, clientID: token.clientID)
        case .sendMail, .uploadChunk, .uploadStatus:
            reply = graphError(400, code: "BadRequest", message: "Unsupported request.", plan: plan, request: request)
        }
        if plan.fault == .acceptThenDrop && (200..<300).contains(reply.status.code) {
            reply = .drop()
        }
        reply.delay = delay
        return reply
    }

    // MARK: Drafts

    private func createDraft(plan: GraphEmulatorPlan, request: GraphEmulatorRequest, mailbox: String, clientID: String) -> GraphEmulatorReply {
        let contentType = request.head.headers.first(name: "Content-Type")?.lowercased() ?? ""
        let source: GraphEmulatorDraft.Source
        if contentType.hasPrefix("text/plain") {
            let decoded = request.body.withUnsafeReadableBytes { Base64.decode($0, padding: .required, ignoringWhitespace: true) }
            guard request.bodyBytes > 0, case .success(let mime) = decoded else {
                return graphError(400, code: "ErrorMimeContentInvalidBase64String", message: "Invalid base64 string for MIME content.", plan: plan, request: request)
            }
            guard mime.count <= configuration.maxMessageBytes else {
                return graphError(400, code: "ErrorMessageSizeExceeded", message: "The message exceeds the maximum supported size.", plan: plan, request: request)
            }
            source = .mime(mime)
        } else if contentType.hasPrefix("application/json") {
            switch Self.jsonMessage(request.body) {
            case .success(let message): source = .json(message)
            case .failure(let problem):
                return graphError(400, code: problem.code, message: problem.message, plan: plan, request: request)
            }
        } else {
            return graphError(415, code: "UnsupportedMediaType", message: "Content-Type '\(contentType)' is not supported.", plan: plan, request: request)
        }
        let draft = GraphEmulatorDraft(id: Self.newID(), mailbox: mailbox, clientID: clientID, createdAt: Date(), source: source)
        state.withValues { $0.drafts[draft.id] = draft }
        logger.debug("draft created", metadata: ["emulator.mailbox": "\(mailbox)", "emulator.draft": "\(draft.id)"])
        var body: [String: Any] = ["id": draft.id, "isDraft": true]
        if let messageID = draft.internetMessageID { body["internetMessageId"] = messageID }
        return GraphEmulatorReply(status: .created, headers: ["Content-Type": "application/json"], body: Self.json(body))
    }

    private func draftState(plan: GraphEmulatorPlan, request: GraphEmulatorRequest, mailbox: String) -> GraphEmulatorReply {
        guard case .message(_, let id, _) = plan.route, draft(id, in: mailbox) != nil else { return itemNotFound(plan, request) }
        return GraphEmulatorReply(status: .ok, headers: ["Content-Type": "application/json"], body: Self.json(["id": id, "isDraft": true]))
    }

    private func deleteDraft(plan: GraphEmulatorPlan, request: GraphEmulatorRequest, mailbox: String) -> GraphEmulatorReply {
        guard case .message(_, let id, _) = plan.route, draft(id, in: mailbox) != nil else { return itemNotFound(plan, request) }
        state.withValues { values in
            values.drafts[id] = nil
            values.uploadSessions = values.uploadSessions.filter { $0.value.draftID != id }
        }
        return GraphEmulatorReply(status: .noContent)
    }

    /// `$filter=internetMessageId eq '…'` (the only filter the emulator understands).
    private func findDrafts(plan: GraphEmulatorPlan, request: GraphEmulatorRequest, mailbox: String) -> GraphEmulatorReply {
        let query = URLComponents(string: request.head.uri)?.queryItems ?? []
        let filter = query.first { $0.name == "$filter" }?.value ?? ""
        let prefix = "internetMessageId eq '"
        guard filter.hasPrefix(prefix), filter.hasSuffix("'") else {
            return graphError(400, code: "ErrorInvalidUrlQueryFilter", message: "The query filter '\(filter)' is not supported.", plan: plan, request: request)
        }
        let wanted = String(filter.dropFirst(prefix.count).dropLast()).replacingOccurrences(of: "''", with: "'")
        let ids = state.withValues { values in
            values.drafts.values.filter { $0.mailbox.lowercased() == mailbox.lowercased() && $0.internetMessageID == wanted }.map(\.id)
        }
        return GraphEmulatorReply(status: .ok, headers: ["Content-Type": "application/json"],
                                  body: Self.json(["value": ids.sorted().map { ["id": $0] }]))
    }

    private func sendDraft(plan: GraphEmulatorPlan, request: GraphEmulatorRequest, mailbox box: GraphEmulatorConfiguration.Mailbox,
                           clientID: String) -> GraphEmulatorReply {
        guard case .message(_, let id, _) = plan.route, let draft = draft(id, in: box.address) else { return itemNotFound(plan, request) }
        let from: String?
        let recipients: (to: [String], cc: [String], bcc: [String])
        switch draft.source {
        case .mime(let mime):
            let headers = MIMEHeaderScanner(mime)
            from = headers.from
            recipients = (headers.to, headers.cc, headers.bcc)
        case .json(let message):
            from = message.from
            recipients = (message.to, message.cc, message.bcc)
        }
        let all = recipients.to + recipients.cc + recipients.bcc
        let invalid = Set(configuration.invalidRecipients.map { $0.lowercased() })
        guard !all.isEmpty, !all.contains(where: { invalid.contains($0.lowercased()) }) else {
            return graphError(400, code: "ErrorInvalidRecipients", message: "At least one recipient is not valid., A message can't be sent because it contains no recipients.", plan: plan, request: request)
        }
        if configuration.enforceSendAs, let from, !([box.address] + box.sendAs).contains(where: { $0.lowercased() == from.lowercased() }) {
            return graphError(403, code: "ErrorSendAsDenied", message: "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account., Cannot submit message.", plan: plan, request: request)
        }
        // Sent: the draft leaves the Drafts folder (its id changes), so it is gone from here.
        guard state.withValues({ $0.drafts.removeValue(forKey: id) }) != nil else { return itemNotFound(plan, request) }
        // The message with its attachments is built only where someone looks at it (the outbox,
        // or tests that keep attachment content): for 40 MB scans it is the emulator's biggest cost.
        let composes = configuration.outboxDirectory != nil || configuration.retainsAttachmentContent || draft.attachments.isEmpty
        var composed: [UInt8] = []
        if composes {
            composed = GraphEmulatorComposer.compose(draft)
        } else if case .mime(let mime) = draft.source {
            composed = mime
        } else {
            composed = GraphEmulatorComposer.compose(GraphEmulatorDraft(id: draft.id, mailbox: draft.mailbox, clientID: draft.clientID,
                                                                        createdAt: draft.createdAt, source: draft.source))
        }
        let now = Date()
        var message = GraphEmulatorMessage(
            mailbox: box.address, mime: composed, requestID: plan.requestID,
            clientRequestID: request.head.headers.first(name: "client-request-id"), clientID: clientID, receivedAt: now,
            from: from ?? box.address, to: recipients.to, cc: recipients.cc, bcc: recipients.bcc, outboxPath: nil)
        if case .json = draft.source { message.submission = "jsonDraft" } else { message.submission = "mimeDraft" }
        message.attachments = draft.attachments
        if let directory = configuration.outboxDirectory {
            do {
                message.outboxPath = try GraphEmulatorOutbox(directory: directory).write(composed, mailbox: box.address, requestID: plan.requestID, at: now)
            } catch {
                logger.error("cannot write to the outbox", metadata: ["emulator.outbox": "\(directory)", "emulator.error": "\(error)"])
            }
        }
        if !configuration.retainsAttachmentContent {
            for index in message.attachments.indices { message.attachments[index].content = nil }
            if !draft.attachments.isEmpty, case .mime(let mime) = draft.source { message.mime = mime }
        }
        record(message)
        logger.debug("draft sent", metadata: [
            "emulator.mailbox": "\(box.address)", "emulator.draft": "\(id)", "emulator.attachments": "\(draft.attachments.count)",
            "emulator.outbox-file": "\(message.outboxPath ?? "-")",
        ])
        return GraphEmulatorReply(status: .accepted)
    }

    // MARK: Helpers

    enum Authentication {
        case token(GraphEmulatorState.IssuedToken)
        case refused(GraphEmulatorReply)
    }

    /// The bearer token's record, or the 401 Graph answers.
    func authenticate(plan: GraphEmulatorPlan, request: GraphEmulatorRequest) -> Authentication {
        let authorization = request.head.headers.first(name: "Authorization") ?? ""
        guard authorization.lowercased().hasPrefix("bearer "), case let value = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            return .refused(graphError(401, code: "InvalidAuthenticationToken", message: "Access token is empty.", plan: plan, request: request))
        }
        guard let token = state.withValues({ $0.tokens[value] }) else {
            return .refused(graphError(401, code: "InvalidAuthenticationToken", message: "IDX14100: JWT is not well formed, or the token was revoked.", plan: plan, request: request))
        }
        guard token.expiresAt > Date() else {
            return .refused(graphError(401, code: "InvalidAuthenticationToken", message: "Lifetime validation failed, the token is expired.", plan: plan, request: request))
        }
        return .token(token)
    }

    /// The answer an injected fault gives instead of the normal one, and a delay to apply.
    func faultReply(plan: GraphEmulatorPlan, request: GraphEmulatorRequest) -> (GraphEmulatorReply?, TimeAmount?) {
        switch plan.fault {
        case .error(let status, let code, let message, let retryAfter)?:
            return (graphError(status, code: code, message: message, plan: plan, request: request,
                               extraHeaders: retryAfter.map { [("Retry-After", $0)] } ?? []), nil)
        case .throttle(let retryAfter)?:
            return (graphError(429, code: "ApplicationThrottled", message: "Application is over its MailboxConcurrency limit.",
                               plan: plan, request: request, extraHeaders: [("Retry-After", retryAfter)]), nil)
        case .serviceUnavailable(let retryAfter)?:
            return (graphError(503, code: "ServiceUnavailable", message: "Service Unavailable", plan: plan, request: request,
                               extraHeaders: retryAfter.map { [("Retry-After", $0)] } ?? []), nil)
        case .gatewayTimeout?:
            return (graphError(504, code: "GatewayTimeout", message: "Gateway Timeout", plan: plan, request: request), nil)
        case .dropDuringRequest?, .dropAfterRequest?:
            return (.drop(), nil)
        case .delay(let amount)?:
            return (nil, amount)
        case .sessionExpired?:
            if case .upload(let session) = plan.route { state.withValues { $0.uploadSessions[session] = nil } }
            return (itemNotFound(plan, request), nil)
        case .acceptThenDrop?, nil:
            return (nil, nil)
        }
    }

    /// 429 when the application and mailbox sent more than ``GraphEmulatorConfiguration/uploadLimit``.
    func uploadLimitReply(plan: GraphEmulatorPlan, request: GraphEmulatorRequest, clientID: String, mailbox: String) -> GraphEmulatorReply? {
        guard let limit = configuration.uploadLimit, request.bodyBytes > 0 else { return nil }
        let key = clientID.lowercased() + " " + mailbox.lowercased()
        let now = Date()
        let wait: Double? = state.withValues { values in
            var entries = values.uploads[key, default: []].filter { now.timeIntervalSince($0.at) < limit.seconds }
            defer { values.uploads[key] = entries }
            let used = entries.reduce(0) { $0 + $1.bytes }
            if used + request.bodyBytes > limit.bytes, let oldest = entries.first {
                return max(1, limit.seconds - now.timeIntervalSince(oldest.at))
            }
            entries.append((now, request.bodyBytes))
            return nil
        }
        guard let wait else { return nil }
        return graphError(429, code: "ApplicationThrottled", message: "Application is over its upload limit for this mailbox.",
                          plan: plan, request: request, extraHeaders: [("Retry-After", String(Int(wait.rounded(.up))))])
    }

    func draft(_ id: String, in mailbox: String) -> GraphEmulatorDraft? {
        state.withValues { values in
            values.drafts[id].flatMap { $0.mailbox.lowercased() == mailbox.lowercased() ? $0 : nil }
        }
    }

    func itemNotFound(_ plan: GraphEmulatorPlan, _ request: GraphEmulatorRequest) -> GraphEmulatorReply {
        graphError(404, code: "ErrorItemNotFound", message: "The specified object was not found in the store.", plan: plan, request: request)
    }

    /// Records a sent message, keeping at most twice ``GraphEmulatorConfiguration/retainedMessages``.
    func record(_ message: GraphEmulatorMessage) {
        let retained = configuration.retainedMessages
        state.withValues { state in
            state.messages.append(message)
            if let retained, state.messages.count > 2 * max(retained, 1) {
                state.messages.removeFirst(state.messages.count - retained)
            }
        }
    }

    /// An Exchange-looking item id.
    static func newID() -> String {
        "AAMkAG" + UUID().uuidString.replacingOccurrences(of: "-", with: "") + UUID().uuidString.prefix(8) + "AAA="
    }

    struct JSONProblem: Error {
        var code: String
        var message: String
    }

    /// A JSON `message` resource as the draft keeps it.
    static func jsonMessage(_ body: ByteBuffer) -> Result<GraphEmulatorJSONMessage, JSONProblem> {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] else {
            return .failure(JSONProblem(code: "RequestBodyRead", message: "The request body is not valid JSON."))
        }
        func addresses(_ key: String) -> [String] {
            ((object[key] as? [[String: Any]]) ?? []).compactMap { ($0["emailAddress"] as? [String: Any])?["address"] as? String }
        }
        var message = GraphEmulatorJSONMessage()
        message.subject = object["subject"] as? String
        if let body = object["body"] as? [String: Any] {
            message.bodyType = ((body["contentType"] as? String) ?? "text").lowercased()
            message.body = (body["content"] as? String) ?? ""
        }
        if let from = (object["from"] as? [String: Any])?["emailAddress"] as? [String: Any] {
            message.from = from["address"] as? String
            message.fromName = from["name"] as? String
        }
        message.to = addresses("toRecipients")
        message.cc = addresses("ccRecipients")
        message.bcc = addresses("bccRecipients")
        message.replyTo = addresses("replyTo")
        message.internetMessageID = object["internetMessageId"] as? String
        for header in (object["internetMessageHeaders"] as? [[String: Any]]) ?? [] {
            guard let name = header["name"] as? String, let value = header["value"] as? String else { continue }
            guard name.lowercased().hasPrefix("x-") else {
                return .failure(JSONProblem(code: "InvalidInternetMessageHeader",
                                            message: "The internet message header name '\(name)' should start with 'x-' or 'X-'."))
            }
            message.headers.append((name, value))
        }
        return .success(message)
    }
}
