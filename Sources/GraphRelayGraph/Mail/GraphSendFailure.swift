/// Why Graph did not accept a message, classified for the relay: what kind of failure, whether
/// it is permanent, whether Graph might nevertheless have stored the message, and everything
/// needed to trace it (status, Graph's error code and message, request ids).
public struct GraphSendFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// 400: the MIME/base64 content was refused (`ErrorMimeContentInvalidBase64String`, …). Permanent.
        case invalidContent = "invalid content"
        /// `ErrorInvalidRecipients`: no valid recipient in To/Cc/Bcc. Permanent.
        case invalidRecipients = "invalid recipients"
        /// 413 or `ErrorMessageSizeExceeded` (or refused locally as above the request limit). Permanent.
        case tooLarge = "message too large"
        /// 403 `ErrorSendAsDenied` / `ErrorAccessDenied`: not allowed to send as this mailbox or From. Permanent.
        case denied = "send denied"
        /// 404 / `ErrorInvalidUser` / `ResourceNotFound`: no such mailbox. Permanent.
        case unknownMailbox = "unknown mailbox"
        /// 429: throttled; see ``GraphSendFailure/retryAfter``. Transient, nothing was stored.
        case throttled = "throttled"
        /// 5xx, timeouts, connection failures. Transient; see ``GraphSendFailure/ambiguous``.
        case transient = "temporary failure"
        /// Graph still answered 401 after a fresh token. Transient (configuration problem).
        case unauthorized = "unauthorized"
        /// No token could be obtained; see ``GraphSendFailure/tokenError``. Transient.
        case tokenFailure = "token failure"
        /// Any other 4xx answer. Permanent.
        case rejected = "rejected"
        /// The relay's own side failed (message source unreadable, client shut down). Transient.
        case localError = "local error"
        /// The message cannot be submitted as it is: too large for one request and its MIME
        /// structure cannot be split into a draft and attachments. Permanent.
        case malformed = "malformed message"
    }

    public var kind: Kind
    public var mailbox: String
    /// HTTP status from Graph, if it answered.
    public var status: Int?
    /// Graph's `error.code`, e.g. `ErrorSendAsDenied`.
    public var errorCode: String?
    /// Graph's `error.message`, or a description of the transport or token failure.
    public var message: String
    /// Graph's `request-id`, if it answered.
    public var requestID: String?
    /// The `client-request-id` the relay sent.
    public var clientRequestID: String?
    /// `true` when the whole request had been sent and no definite answer came back (timeout,
    /// connection lost, 5xx): Graph may have stored the message, so a blind retry may duplicate it.
    /// `false` means Graph certainly did not accept it.
    public var ambiguous: Bool
    /// How long Graph asked us to wait (`Retry-After`), if it said.
    public var retryAfter: Duration?
    /// The token failure, for ``Kind/tokenFailure``.
    public var tokenError: GraphTokenError?
    /// The transport failure, when Graph did not answer.
    public var transportError: HTTPClientError?

    public init(kind: Kind, mailbox: String, status: Int? = nil, errorCode: String? = nil, message: String,
                requestID: String? = nil, clientRequestID: String? = nil, ambiguous: Bool = false,
                retryAfter: Duration? = nil, tokenError: GraphTokenError? = nil, transportError: HTTPClientError? = nil) {
        self.kind = kind
        self.mailbox = mailbox
        self.status = status
        self.errorCode = errorCode
        self.message = message
        self.requestID = requestID
        self.clientRequestID = clientRequestID
        self.ambiguous = ambiguous
        self.retryAfter = retryAfter
        self.tokenError = tokenError
        self.transportError = transportError
    }

    /// Whether trying again cannot help (the device should bounce the message).
    public var isPermanent: Bool {
        switch kind {
        case .invalidContent, .invalidRecipients, .tooLarge, .denied, .unknownMailbox, .rejected, .malformed: true
        case .throttled, .transient, .unauthorized, .tokenFailure, .localError: false
        }
    }

    public var description: String {
        var parts = ["\(kind.rawValue) for mailbox \(mailbox)"]
        if let status { parts.append("HTTP \(status)") }
        if let errorCode { parts.append(errorCode) }
        var text = parts.joined(separator: ", ") + ": " + message
        if let retryAfter { text += " (retry after \(retryAfter.seconds) s)" }
        if ambiguous { text += " [ambiguous: Graph may have stored the message]" }
        if let requestID { text += " request-id=\(requestID)" }
        if let clientRequestID { text += " client-request-id=\(clientRequestID)" }
        return text
    }
}
