import Foundation

/// The route decision made at acceptance, stored with the message and handed back at delivery.
/// The spool does not interpret it; `mailbox` is the resolved address to send as (never the
/// placeholder `sender`).
public struct SpoolRoute: Codable, Sendable, Equatable, Hashable {
    public var application: String
    public var mailbox: String
    public var rewriteFrom: Bool

    public init(application: String, mailbox: String, rewriteFrom: Bool = false) {
        self.application = application
        self.mailbox = mailbox
        self.rewriteFrom = rewriteFrom
    }
}

/// What the SMTP session knows about a message at the end of DATA.
public struct SpoolEnvelope: Codable, Sendable, Equatable {
    /// The envelope sender (MAIL FROM) without angle brackets; empty for the null sender `<>`.
    public var sender: String
    /// The envelope recipients (RCPT TO) without angle brackets.
    public var recipients: [String]
    public var route: SpoolRoute
    /// When the message was accepted; the lifetime counts from here.
    public var receivedAt: Date
    /// Opaque extras for the relay (client address, authenticated user, HELO name, …), shown by
    /// `queue show`. Never put secrets here.
    public var attributes: [String: String]

    public init(
        sender: String,
        recipients: [String],
        route: SpoolRoute,
        receivedAt: Date = Date(),
        attributes: [String: String] = [:]
    ) {
        self.sender = sender
        self.recipients = recipients
        self.route = route
        self.receivedAt = receivedAt
        self.attributes = attributes
    }

    /// Whether the envelope sender is the null sender `<>` (a bounce).
    public var hasNullSender: Bool {
        let trimmed = sender.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty || trimmed == "<>"
    }
}
