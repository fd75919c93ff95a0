/// A policy's answer to "may this go ahead?".
public enum SMTPDecision: Sendable, Hashable {
    /// Go ahead: the listener answers with its standard positive reply (greeting, `250 2.1.0 Ok`,
    /// `250 2.1.5 Ok`).
    case accept
    /// Refuse with this reply, which must be 4xx or 5xx (anything else is replaced by
    /// `451 4.3.0`). A `421` reply also closes the connection.
    case reject(SMTPReply)
}

/// A finished message handed to ``SMTPPolicy/deliver(_:)``.
public struct SMTPIncomingMessage: Sendable {
    /// The accepted sender and recipients; ``SMTPEnvelope/id`` is the id in the `Received:` header.
    public var envelope: SMTPEnvelope
    /// The session the message arrived in (client address, HELO name, TLS, authenticated user).
    public var session: SMTPSessionInfo
    /// The message as received: the listener's `Received:` header followed by the client's bytes
    /// (dot-unstuffed; bare LFs converted to CRLF on `normalize` listeners). The policy owns it from
    /// here: it may keep it as long as it needs it.
    public var content: any SMTPStoredMessage

    public init(envelope: SMTPEnvelope, session: SMTPSessionInfo, content: any SMTPStoredMessage) {
        self.envelope = envelope
        self.session = session
        self.content = content
    }
}

/// The decisions the relay makes for the listener. The listener enforces the protocol and its
/// limits; everything about who may send what to whom is asked here.
///
/// Methods are called off the event loop (the listener hops back with the result); while one is
/// pending, the session reads no further commands. They should answer in bounded time: a client
/// waits for each answer.
///
/// The listener is never an open relay: without a policy (``SMTPDenyAllPolicy``) no recipient is
/// accepted, and ``acceptRecipient(_:envelope:session:)`` and ``deliver(_:)`` have no default.
public protocol SMTPPolicy: Sendable {
    /// A client connected (before the greeting). Reject to send the reply and close.
    /// Default: accept.
    func acceptConnection(_ session: SMTPSessionInfo) async -> SMTPDecision

    /// `MAIL FROM` with a syntactically valid path and supported parameters.
    /// `session.authenticatedUser` tells whether and as whom the client authenticated.
    /// Default: accept.
    func acceptSender(_ sender: SMTPReversePath, parameters: SMTPMailParameters, session: SMTPSessionInfo) async -> SMTPDecision

    /// `RCPT TO` for a transaction whose envelope so far is `envelope`.
    func acceptRecipient(_ recipient: SMTPForwardPath, envelope: SMTPEnvelope, session: SMTPSessionInfo) async -> SMTPDecision

    /// A complete message. Return the final reply for the client: e.g.
    /// ``SMTPReply/queued(as:)`` (`250 2.0.0 Ok: queued as ID`) once the message is safe,
    /// `451 4.x.x` to make the client retry, `554 5.x.x` to refuse it.
    func deliver(_ message: SMTPIncomingMessage) async -> SMTPReply
}

extension SMTPPolicy {
    public func acceptConnection(_ session: SMTPSessionInfo) async -> SMTPDecision { .accept }

    public func acceptSender(_ sender: SMTPReversePath, parameters: SMTPMailParameters, session: SMTPSessionInfo) async -> SMTPDecision {
        .accept
    }
}

/// The policy used when none is configured: every recipient gets `554 5.7.1 Relay access denied`,
/// so no message is ever accepted.
public struct SMTPDenyAllPolicy: SMTPPolicy {
    public init() {}

    public func acceptRecipient(_ recipient: SMTPForwardPath, envelope: SMTPEnvelope, session: SMTPSessionInfo) async -> SMTPDecision {
        .reject(.relayAccessDenied(recipient.address))
    }

    public func deliver(_ message: SMTPIncomingMessage) async -> SMTPReply {
        SMTPReply(554, "5.7.1", "Error: no delivery configured")
    }
}
