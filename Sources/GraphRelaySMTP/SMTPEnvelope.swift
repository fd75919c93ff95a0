/// One mail transaction's envelope: the accepted sender and recipients.
public struct SMTPEnvelope: Sendable, Hashable {
    /// A random identifier for this transaction (12 upper-case hex digits), also written into the
    /// `Received:` header. A policy may reply `250 2.0.0 Ok: queued as <id>` with it
    /// (``SMTPReply/queued(as:)``) so client logs, relay logs and headers match.
    public var id: String
    public var sender: SMTPReversePath
    public var parameters: SMTPMailParameters
    /// The recipients the policy accepted, in order.
    public var recipients: [SMTPForwardPath]

    public init(id: String, sender: SMTPReversePath, parameters: SMTPMailParameters = SMTPMailParameters(), recipients: [SMTPForwardPath] = []) {
        self.id = id
        self.sender = sender
        self.parameters = parameters
        self.recipients = recipients
    }
}
