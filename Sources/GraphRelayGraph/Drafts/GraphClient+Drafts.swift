import Foundation
import GraphRelayMIME
import Logging
import NIOCore
import NIOHTTP1

/// The draft path (`POST /users/{mailbox}/messages`, attachments, `send`): for messages larger
/// than one sendMail request, and for sends that must be checkable afterwards. It needs the
/// `Mail.ReadWrite` application permission as well as `Mail.Send`.
///
/// Every call returns a ``GraphSendFailure`` classified like sendMail's (kind, permanence,
/// ambiguity, request ids); none throws.
extension GraphClient {
    /// What a failed draft call means for the caller, beyond ``GraphSendFailure``.
    public typealias DraftResult<Value: Sendable> = Result<Value, GraphSendFailure>

    /// Creates a draft from the raw message (MIME, base64, `Content-Type: text/plain`), like
    /// sendMail but without sending. Returns the draft's id.
    public func createDraft(mailbox: String, mime: GraphMessageSource, logger: Logger) async -> DraftResult<String> {
        let encodedLength = Base64StreamEncoder.encodedLength(of: mime.byteCount)
        guard encodedLength <= configuration.maxRequestBodySize else {
            return .failure(GraphSendFailure(kind: .tooLarge, mailbox: mailbox,
                message: "draft of \(mime.byteCount) bytes is \(encodedLength) bytes in base64, above Graph's request limit of \(configuration.maxRequestBodySize) bytes"))
        }
        let answer = await request("createDraft", mailbox: mailbox, method: .POST, url: userURL(mailbox, "/messages"),
                                   headers: ["Content-Type": "text/plain"],
                                   body: .stream(length: encodedLength, producer: Self.base64Producer(mime)),
                                   timeout: configuration.sendMailTimeout, logger: logger)
        return draftCreated(answer, mailbox: mailbox, logger: logger)
    }

    /// Creates a draft from a JSON `message` resource.
    public func createDraft(mailbox: String, json: ByteBuffer, logger: Logger) async -> DraftResult<String> {
        guard json.readableBytes <= configuration.maxRequestBodySize else {
            return .failure(GraphSendFailure(kind: .tooLarge, mailbox: mailbox,
                message: "JSON draft of \(json.readableBytes) bytes is above Graph's request limit of \(configuration.maxRequestBodySize) bytes"))
        }
        let answer = await request("createDraft", mailbox: mailbox, method: .POST, url: userURL(mailbox, "/messages"),
                                   headers: ["Content-Type": "application/json"], body: .bytes(json),
                                   timeout: configuration.sendMailTimeout, logger: logger)
        return draftCreated(answer, mailbox: mailbox, logger: logger)
    }

    private func draftCreated(_ answer: GraphAnswer, mailbox: String, logger: Logger) -> DraftResult<String> {
        switch check(answer, "createDraft", mailbox: mailbox, expecting: [201, 200], logger: logger) {
        case .failure(let failure):
            return .failure(failure)
        case .success(let response):
            guard let id = Self.json(response.body)?["id"] as? String, !id.isEmpty else {
                return .failure(GraphSendFailure(kind: .transient, mailbox: mailbox, status: Int(response.status.code),
                                                 message: "Graph created a draft but its answer has no id",
                                                 requestID: response.headers.first(name: "request-id"), ambiguous: true))
            }
            return .success(id)
        }
    }

    /// Adds a file attachment of less than 3 MB to a draft in one request (`contentBytes` in
    /// base64, streamed from `content`).
    public func addAttachment(mailbox: String, draftID: String, attachment: GraphAttachment, content: GraphMessageSource,
                              logger: Logger) async -> DraftResult<Void> {
        let (prefix, suffix) = Self.fileAttachmentJSON(attachment)
        let length = prefix.readableBytes + Base64StreamEncoder.encodedLength(of: content.byteCount) + suffix.readableBytes
        guard length <= configuration.maxRequestBodySize else {
            return .failure(GraphSendFailure(kind: .tooLarge, mailbox: mailbox,
                message: "attachment \(attachment) needs \(length) bytes of JSON, above Graph's request limit of \(configuration.maxRequestBodySize) bytes"))
        }
        let base64 = Self.base64Producer(content)
        let producer = HTTPBodyProducer { writer in
            try await writer.write(prefix)
            try await base64.run(writer)
            try await writer.write(suffix)
        }
        let answer = await request("addAttachment", mailbox: mailbox, method: .POST, url: messageURL(mailbox, draftID, "/attachments"),
                                   headers: ["Content-Type": "application/json"], body: .stream(length: length, producer: producer),
                                   timeout: configuration.sendMailTimeout, logger: logger)
        return check(answer, "addAttachment", mailbox: mailbox, expecting: [201, 200], draft: true, logger: logger).map { _ in () }
    }

    /// Sends a draft (`POST …/messages/{id}/send`, 202).
    public func sendDraft(mailbox: String, draftID: String, logger: Logger) async -> GraphSendMailOutcome {
        let answer = await request("sendDraft", mailbox: mailbox, method: .POST, url: messageURL(mailbox, draftID, "/send"),
                                   timeout: configuration.sendMailTimeout, logger: logger)
        switch check(answer, "sendDraft", mailbox: mailbox, expecting: [202, 200, 204], draft: true, logger: logger) {
        case .failure(let failure):
            return .failed(failure)
        case .success(let response):
            guard case .answered(_, let clientRequestID, let attempts) = answer else { fatalError("unreachable") }
            return .accepted(GraphSendMailReceipt(mailbox: mailbox, requestID: response.headers.first(name: "request-id"),
                                                  clientRequestID: clientRequestID, attempts: attempts, messageBytes: 0))
        }
    }

    /// Whether a draft is still a draft (`GET …/messages/{id}?$select=isDraft`): how an ambiguous
    /// send is resolved.
    public func draftState(mailbox: String, draftID: String, logger: Logger) async -> DraftResult<GraphDraftState> {
        var url = messageURL(mailbox, draftID, "")
        url.target += "?%24select=isDraft"
        let answer = await request("draftState", mailbox: mailbox, method: .GET, url: url,
                                   timeout: configuration.http.requestTimeout, logger: logger)
        if case .answered(let response, _, _) = answer, response.status == .notFound,
            GraphErrorBody(response.body).code.map(Self.isMailboxError) != true {
            return .success(.notFound)
        }
        return check(answer, "draftState", mailbox: mailbox, expecting: [200], logger: logger).map { response in
            (Self.json(response.body)?["isDraft"] as? Bool) == false ? .sent : .draft
        }
    }

    /// Deletes a draft (`DELETE …/messages/{id}`); one that is already gone counts as deleted.
    public func deleteDraft(mailbox: String, draftID: String, logger: Logger) async -> DraftResult<Void> {
        let answer = await request("deleteDraft", mailbox: mailbox, method: .DELETE, url: messageURL(mailbox, draftID, ""),
                                   timeout: configuration.http.requestTimeout, logger: logger)
        if case .answered(let response, _, _) = answer, response.status == .notFound {
            return .success(())
        }
        return check(answer, "deleteDraft", mailbox: mailbox, expecting: [204, 200], logger: logger).map { _ in () }
    }

    /// The ids of the drafts in the mailbox's Drafts folder whose `internetMessageId` is
    /// `messageID` (with angle brackets): drafts an attempt created and could not record.
    public func findDrafts(mailbox: String, internetMessageID messageID: String, logger: Logger) async -> DraftResult<[String]> {
        var url = userURL(mailbox, "/mailFolders/drafts/messages")
        let filter = "internetMessageId eq '" + messageID.replacingOccurrences(of: "'", with: "''") + "'"
        url.target += "?%24filter=" + Self.percentEncodeQuery(filter) + "&%24select=id"
        let answer = await request("findDrafts", mailbox: mailbox, method: .GET, url: url,
                                   timeout: configuration.http.requestTimeout, logger: logger)
        return check(answer, "findDrafts", mailbox: mailbox, expecting: [200], logger: logger).map { response in
            ((Self.json(response.body)?["value"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
        }
    }

    // MARK: Helpers

    /// `{graph}/v1.0/users/{mailbox}/messages/{id}` followed by `path`.
    func messageURL(_ mailbox: String, _ draftID: String, _ path: String) -> HTTPURL {
        userURL(mailbox, "/messages/" + HTTPURL.encodePathSegment(draftID) + path)
    }

    /// The answer if its status is one of `expected`; else the classified failure, logged. On
    /// the draft path a 403 names the permission it needs, and (with `draft`) a 404 means the
    /// draft is gone: a new attempt builds a new one.
    func check(_ answer: GraphAnswer, _ operation: String, mailbox: String, expecting expected: Set<Int>,
               draft: Bool = false, logger: Logger) -> Result<HTTPClientResponse, GraphSendFailure> {
        var failure: GraphSendFailure
        switch answer {
        case .failed(let transport):
            failure = transport
        case .answered(let response, let clientRequestID, let attempts):
            if expected.contains(Int(response.status.code)) { return .success(response) }
            failure = GraphSendMailOutcome.classify(response: response, mailbox: mailbox, clientRequestID: clientRequestID,
                                                    attempts: attempts, messageBytes: 0).failure!
            if failure.status == 403 && failure.errorCode != "ErrorSendAsDenied" {
                failure.message = "the draft path needs the Mail.ReadWrite application permission as well as Mail.Send "
                    + "(docs/entra-setup.md); Graph answered: \(failure.message)"
            } else if draft, failure.status == 404, !Self.isMailboxError(failure.errorCode ?? "") {
                failure.kind = .transient
                failure.message = "the draft no longer exists: \(failure.message)"
            }
        }
        log(failure, operation: operation, logger: logger)
        return .failure(failure)
    }

    static func isMailboxError(_ code: String) -> Bool {
        code == "ErrorInvalidUser" || code == "MailboxNotEnabledForRESTAPI"
    }

    func log(_ failure: GraphSendFailure, operation: String, logger: Logger) {
        var metadata: Logger.Metadata = [
            "graph.operation": "\(operation)", "graph.failure-kind": "\(failure.kind.rawValue)",
            "graph.request-id": "\(failure.requestID ?? "-")", "graph.client-request-id": "\(failure.clientRequestID ?? "-")",
            "graph.ambiguous": "\(failure.ambiguous)",
        ]
        if let status = failure.status { metadata["graph.status"] = "\(status)" }
        if let code = failure.errorCode { metadata["graph.error-code"] = "\(code)" }
        if let retryAfter = failure.retryAfter { metadata["graph.retry-after-ms"] = "\(retryAfter.milliseconds)" }
        if failure.kind == .tokenFailure || failure.kind == .unauthorized || failure.ambiguous {
            logger.error("\(operation) failed: \(failure)", metadata: metadata)
        } else {
            logger.warning("\(operation) failed: \(failure)", metadata: metadata)
        }
    }

    static func json(_ body: ByteBuffer) -> [String: Any]? {
        guard body.readableBytes > 0 else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
    }

    /// The JSON of a `fileAttachment` around its `contentBytes` value.
    static func fileAttachmentJSON(_ attachment: GraphAttachment) -> (prefix: ByteBuffer, suffix: ByteBuffer) {
        var text = ##"{"@odata.type":"#microsoft.graph.fileAttachment","name":"## + JSONString.quote(attachment.name)
            + #","contentType":"# + JSONString.quote(attachment.contentType) + #","isInline":"# + (attachment.isInline ? "true" : "false")
        if let contentID = attachment.contentID { text += #","contentId":"# + JSONString.quote(contentID) }
        text += #","contentBytes":""#
        return (ByteBuffer(string: text), ByteBuffer(string: "\"}"))
    }

    /// Percent-encodes a query value (everything but unreserved characters).
    static func percentEncodeQuery(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}
