import COpenSSL
import Foundation
import GraphRelayMIME
import NIOCore
import NIOHTTP1

/// Attachments of drafts: `POST …/attachments` (a `fileAttachment` with `contentBytes`, under
/// the 4 MB request limit), `createUploadSession` and the session's upload URL.
extension GraphEmulatorEngine {
    /// A quantum of upload chunks: 320 KiB.
    static let chunkQuantum = 320 * 1024

    func addAttachment(plan: GraphEmulatorPlan, request: GraphEmulatorRequest, mailbox: String) -> GraphEmulatorReply {
        guard case .message(_, let id, _) = plan.route, let draft = draft(id, in: mailbox) else { return itemNotFound(plan, request) }
        if let refusal = mimeRefusal(draft, plan: plan, request: request) { return refusal }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(request.body.readableBytesView))) as? [String: Any] else {
            return graphError(400, code: "RequestBodyRead", message: "The request body is not valid JSON.", plan: plan, request: request)
        }
        guard (object["@odata.type"] as? String) == "#microsoft.graph.fileAttachment" else {
            return graphError(400, code: "ErrorInvalidRequest", message: "Only #microsoft.graph.fileAttachment is supported here.", plan: plan, request: request)
        }
        guard let name = object["name"] as? String, !name.isEmpty else {
            return graphError(400, code: "ErrorInvalidRequest", message: "The attachment name is missing.", plan: plan, request: request)
        }
        guard let text = object["contentBytes"] as? String, case .success(let content) = Array(text.utf8).withUnsafeBytes({ Base64.decode($0, padding: .required, ignoringWhitespace: true) }) else {
            return graphError(400, code: "ErrorInvalidRequest", message: "contentBytes is not valid base64.", plan: plan, request: request)
        }
        let attachment = Self.attachment(name: name, contentType: object["contentType"] as? String, isInline: object["isInline"] as? Bool,
                                         contentID: object["contentId"] as? String, content: ByteBuffer(bytes: content), via: "attachments")
        guard state.withValues({ values -> Bool in
            guard values.drafts[id] != nil else { return false }
            values.drafts[id]!.attachments.append(attachment)
            return true
        }) else { return itemNotFound(plan, request) }
        return GraphEmulatorReply(status: .created, headers: ["Content-Type": "application/json"],
                                  body: Self.json(["id": Self.newID(), "name": name, "size": content.count]))
    }

    func createUploadSession(plan: GraphEmulatorPlan, request: GraphEmulatorRequest, mailbox: String, clientID: String) -> GraphEmulatorReply {
        guard case .message(_, let id, _) = plan.route, let draft = draft(id, in: mailbox) else { return itemNotFound(plan, request) }
        if let refusal = mimeRefusal(draft, plan: plan, request: request) { return refusal }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(request.body.readableBytesView))) as? [String: Any],
            let item = object["AttachmentItem"] as? [String: Any]
        else {
            return graphError(400, code: "ErrorInvalidRequest", message: "AttachmentItem is required.", plan: plan, request: request)
        }
        guard (item["attachmentType"] as? String)?.lowercased() == "file", let name = item["name"] as? String, !name.isEmpty,
            let size = item["size"] as? Int
        else {
            return graphError(400, code: "ErrorInvalidRequest", message: "AttachmentItem needs attachmentType 'file', a name and a size.", plan: plan, request: request)
        }
        guard size >= configuration.minimumUploadSessionSize else {
            return graphError(400, code: "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                              message: "Attachment size must be at least \(configuration.minimumUploadSessionSize) bytes for an upload session.", plan: plan, request: request)
        }
        guard size <= configuration.maximumUploadSessionSize else {
            return graphError(400, code: "ErrorMessageSizeExceeded", message: "The message exceeds the maximum supported size.", plan: plan, request: request)
        }
        let meta = GraphEmulatorAttachment(name: name, contentType: (item["contentType"] as? String) ?? "application/octet-stream",
                                           size: size, isInline: (item["isInline"] as? Bool) ?? false, contentID: item["contentId"] as? String,
                                           sha256: "", content: nil, via: "uploadSession")
        let session = GraphEmulatorUploadSession(id: UUID().uuidString.lowercased(), token: UUID().uuidString.replacingOccurrences(of: "-", with: ""),
                                                 draftID: id, mailbox: mailbox, clientID: clientID, attachment: meta,
                                                 expiresAt: Date().addingTimeInterval(configuration.uploadSessionLifetime))
        state.withValues { $0.uploadSessions[session.id] = session }
        let host = request.head.headers.first(name: "Host") ?? "127.0.0.1"
        let url = "\(request.secure ? "https" : "http")://\(host)/upload/\(session.id)?authtoken=\(session.token)"
        return GraphEmulatorReply(status: .created, headers: ["Content-Type": "application/json"], body: Self.json([
            "uploadUrl": url, "expirationDateTime": ISO8601DateFormatter().string(from: session.expiresAt), "nextExpectedRanges": ["0-"],
        ]))
    }

    /// The upload URL: `PUT` a chunk, `GET` the session's state, `DELETE` it.
    func uploadReply(plan: GraphEmulatorPlan, session id: String, request: GraphEmulatorRequest) -> GraphEmulatorReply {
        let now = Date()
        guard var session = state.withValues({ values -> GraphEmulatorUploadSession? in
            if let session = values.uploadSessions[id], session.expiresAt <= now { values.uploadSessions[id] = nil }
            return values.uploadSessions[id]
        }) else { return itemNotFound(plan, request) }
        let token = URLComponents(string: request.head.uri)?.queryItems?.first { $0.name == "authtoken" }?.value
        guard token == session.token else {
            return graphError(401, code: "InvalidAuthenticationToken", message: "The upload URL's token is not valid.", plan: plan, request: request)
        }
        guard request.head.headers.first(name: "Authorization") == nil else {
            return graphError(401, code: "InvalidAuthenticationToken",
                              message: "The upload URL is pre-authenticated: an Authorization header must not be sent.", plan: plan, request: request)
        }
        let (early, delay) = faultReply(plan: plan, request: request)
        if let early { return early }
        var reply: GraphEmulatorReply
        switch request.head.method {
        case .GET:
            reply = sessionState(session)
        case .DELETE:
            state.withValues { $0.uploadSessions[id] = nil }
            reply = GraphEmulatorReply(status: .noContent)
        case .PUT:
            if let throttled = uploadLimitReply(plan: plan, request: request, clientID: session.clientID, mailbox: session.mailbox) {
                return throttled
            }
            if let problem = checkChunk(request, session: session) {
                return graphError(problem.status, code: problem.code, message: problem.message, plan: plan, request: request)
            }
            var chunk = request.body
            session.received.writeBuffer(&chunk)
            if session.received.readableBytes < session.attachment.size {
                state.withValues { $0.uploadSessions[id]?.received = session.received }
                reply = sessionState(session)
            } else {
                let attachment = Self.attachment(name: session.attachment.name, contentType: session.attachment.contentType,
                                                 isInline: session.attachment.isInline, contentID: session.attachment.contentID,
                                                 content: session.received, via: "uploadSession")
                let added = state.withValues { values -> Bool in
                    values.uploadSessions[id] = nil
                    guard values.drafts[session.draftID] != nil else { return false }
                    values.drafts[session.draftID]!.attachments.append(attachment)
                    return true
                }
                guard added else { return itemNotFound(plan, request) }
                reply = GraphEmulatorReply(status: .created, headers: ["Location": "/v1.0/users/\(session.mailbox)/messages/\(session.draftID)/attachments"])
            }
        default:
            return graphError(405, code: "Request_BadRequest", message: "Specified HTTP method is not allowed for the request target.", plan: plan, request: request)
        }
        if plan.fault == .acceptThenDrop && (200..<300).contains(reply.status.code) { reply = .drop() }
        reply.delay = delay
        return reply
    }

    private struct ChunkProblem {
        var status: Int
        var code: String
        var message: String
    }

    /// Graph's chunk rules: `Content-Range: bytes a-b/total` continuing where the session stands,
    /// matching the body, at most 4 MiB, a multiple of 320 KiB unless it is the last.
    private func checkChunk(_ request: GraphEmulatorRequest, session: GraphEmulatorUploadSession) -> ChunkProblem? {
        guard request.bodyBytes <= configuration.maxRequestBytes else {
            return ChunkProblem(status: 413, code: "RequestEntityTooLarge", message: "A chunk can be at most 4 MiB.")
        }
        guard let range = request.head.headers.first(name: "Content-Range"), range.hasPrefix("bytes ") else {
            return ChunkProblem(status: 400, code: "InvalidRange", message: "Content-Range is required.")
        }
        let parts = range.dropFirst(6).split(separator: "/")
        let bounds = parts.first?.split(separator: "-") ?? []
        guard parts.count == 2, bounds.count == 2, let start = Int(bounds[0]), let end = Int(bounds[1]), let total = Int(parts[1]),
            end >= start
        else {
            return ChunkProblem(status: 400, code: "InvalidRange", message: "Content-Range '\(range)' is malformed.")
        }
        let expected = session.received.readableBytes
        guard total == session.attachment.size else {
            return ChunkProblem(status: 400, code: "InvalidRange", message: "The total size \(total) is not the session's \(session.attachment.size).")
        }
        guard start == expected else {
            return ChunkProblem(status: 416, code: "InvalidRange", message: "Expected a chunk starting at byte \(expected), got \(start).")
        }
        let length = end - start + 1
        guard length == request.bodyBytes, end < total else {
            return ChunkProblem(status: 400, code: "InvalidRange", message: "Content-Range \(range) does not match \(request.bodyBytes) bytes of body.")
        }
        guard end + 1 == total || length % Self.chunkQuantum == 0 else {
            return ChunkProblem(status: 400, code: "InvalidRange", message: "Chunks other than the last must be a multiple of 320 KiB; got \(length) bytes.")
        }
        return nil
    }

    private func sessionState(_ session: GraphEmulatorUploadSession) -> GraphEmulatorReply {
        GraphEmulatorReply(status: .ok, headers: ["Content-Type": "application/json"], body: Self.json([
            "expirationDateTime": ISO8601DateFormatter().string(from: session.expiresAt),
            "nextExpectedRanges": ["\(session.received.readableBytes)-"],
        ]))
    }

    private func mimeRefusal(_ draft: GraphEmulatorDraft, plan: GraphEmulatorPlan, request: GraphEmulatorRequest) -> GraphEmulatorReply? {
        guard configuration.refusesAttachmentsOnMIMEDrafts, case .mime = draft.source else { return nil }
        return graphError(400, code: "ErrorInvalidRequest", message: "Attachments cannot be added to a message created from MIME content.",
                          plan: plan, request: request)
    }

    static func attachment(name: String, contentType: String?, isInline: Bool?, contentID: String?, content: ByteBuffer,
                           via: String) -> GraphEmulatorAttachment {
        let bytes = Array(content.readableBytesView)
        return GraphEmulatorAttachment(name: name, contentType: contentType ?? "application/octet-stream", size: bytes.count,
                                       isInline: isInline ?? false, contentID: contentID, sha256: sha256(bytes), content: bytes, via: via)
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        bytes.withUnsafeBytes { input in
            _ = EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        return digest.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
