import Foundation
import NIOCore
import NIOHTTP1

extension GraphSendMailOutcome {
    /// Classifies Graph's answer to a sendMail request (docs/graph.md, "Outcomes and SMTP replies").
    ///
    /// - Parameters:
    ///   - response: Graph's answer.
    ///   - attempts: requests sent for this message so far.
    static func classify(response: HTTPClientResponse, mailbox: String, clientRequestID: String,
                         attempts: Int, messageBytes: Int, now: Date = Date()) -> GraphSendMailOutcome {
        let status = Int(response.status.code)
        let requestID = response.headers.first(name: "request-id")
        if (200..<300).contains(status) {
            return .accepted(GraphSendMailReceipt(mailbox: mailbox, requestID: requestID, clientRequestID: clientRequestID,
                                                  attempts: attempts, messageBytes: messageBytes))
        }
        let body = GraphErrorBody(response.body)
        let code = body.code
        let message = body.message.flatMap { $0.isEmpty ? nil : $0 } ?? "HTTP \(status) \(response.status.reasonPhrase)"
        let lowerMessage = message.lowercased()
        let kind: GraphSendFailure.Kind
        switch (status, code) {
        case (_, "ErrorInvalidRecipients"?):
            kind = .invalidRecipients
        case (413, _), (_, "ErrorMessageSizeExceeded"?), (_, "ErrorRequestEntityTooLarge"?):
            kind = .tooLarge
        case (400, _) where lowerMessage.contains("maximum request length"):
            kind = .tooLarge
        case (_, "ErrorSendAsDenied"?), (403, _):
            kind = .denied
        case (404, _), (_, "ErrorInvalidUser"?), (_, "ResourceNotFound"?), (_, "MailboxNotEnabledForRESTAPI"?):
            kind = .unknownMailbox
        case (400, _):
            kind = .invalidContent
        case (401, _):
            kind = .unauthorized
        case (429, _):
            kind = .throttled
        case (408, _), (409, _), (423, _), (425, _):
            kind = .transient
        case (400..<500, _):
            kind = .rejected
        default:
            kind = .transient
        }
        // A server error after the whole body arrived may come after Exchange stored the message.
        let ambiguous = status >= 500 && response.requestBodyComplete
        return .failed(GraphSendFailure(
            kind: kind, mailbox: mailbox, status: status, errorCode: code, message: message,
            requestID: requestID ?? body.requestID, clientRequestID: clientRequestID, ambiguous: ambiguous,
            retryAfter: RetryAfter.delay(in: response.headers, now: now)))
    }

    /// Classifies a failure to get an answer at all.
    static func classify(transportError error: HTTPClientError, mailbox: String, clientRequestID: String) -> GraphSendMailOutcome {
        let kind: GraphSendFailure.Kind
        switch error.kind {
        case .connectFailed, .connectTimeout, .tlsFailed, .proxyFailed, .requestTimeout, .connectionClosed, .protocolError, .responseTooLarge:
            kind = .transient
        case .invalidURL, .bodyLengthMismatch, .bodySourceFailed, .cancelled, .shutdown:
            kind = .localError
        }
        return .failed(GraphSendFailure(
            kind: kind, mailbox: mailbox, message: error.description, clientRequestID: clientRequestID,
            ambiguous: error.requestSent, transportError: error))
    }
}
