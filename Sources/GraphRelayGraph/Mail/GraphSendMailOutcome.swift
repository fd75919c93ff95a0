/// What became of one sendMail call.
public enum GraphSendMailOutcome: Sendable, Hashable, CustomStringConvertible {
    /// Graph answered 202 Accepted: it has stored the message and will send it.
    case accepted(GraphSendMailReceipt)
    case failed(GraphSendFailure)

    public var isAccepted: Bool {
        if case .accepted = self { return true }
        return false
    }

    public var failure: GraphSendFailure? {
        if case .failed(let failure) = self { return failure }
        return nil
    }

    /// The SMTP reply for the device: `250 2.0.0` on acceptance, the mapped failure otherwise.
    public var smtpReply: GraphSMTPReply {
        switch self {
        case .accepted(let receipt):
            GraphSMTPReply(code: 250, enhancedCode: "2.0.0", text: "Ok: queued by Microsoft Graph" + (receipt.requestID.map { " (request-id \($0))" } ?? ""))
        case .failed(let failure):
            failure.smtpReply
        }
    }

    public var description: String {
        switch self {
        case .accepted(let receipt): "accepted \(receipt)"
        case .failed(let failure): "failed \(failure)"
        }
    }
}

/// Proof of a 202 from Graph.
public struct GraphSendMailReceipt: Sendable, Hashable, CustomStringConvertible {
    public var mailbox: String
    /// Graph's `request-id` response header (quote it to Microsoft support).
    public var requestID: String?
    /// The `client-request-id` the relay sent.
    public var clientRequestID: String
    /// Requests sent (2 after a 401 forced a token refresh).
    public var attempts: Int
    /// Size of the raw message.
    public var messageBytes: Int

    public init(mailbox: String, requestID: String?, clientRequestID: String, attempts: Int, messageBytes: Int) {
        self.mailbox = mailbox
        self.requestID = requestID
        self.clientRequestID = clientRequestID
        self.attempts = attempts
        self.messageBytes = messageBytes
    }

    public var description: String {
        "mailbox=\(mailbox) request-id=\(requestID ?? "-") client-request-id=\(clientRequestID) bytes=\(messageBytes)"
    }
}
