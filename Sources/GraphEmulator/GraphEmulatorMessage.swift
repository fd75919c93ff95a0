import Foundation

/// A message the emulator accepted (202), as Graph would have stored it.
public struct GraphEmulatorMessage: Sendable, Hashable {
    /// The mailbox from the URL, as given.
    public var mailbox: String
    /// The decoded MIME bytes: for a draft, the message as Exchange would send it, its
    /// attachments included (without them unless ``GraphEmulatorConfiguration/retainsAttachmentContent``).
    public var mime: [UInt8]
    /// The `request-id` the emulator answered with.
    public var requestID: String
    /// The client's `client-request-id`, if sent.
    public var clientRequestID: String?
    /// The application whose token was used.
    public var clientID: String
    public var receivedAt: Date
    /// Addresses from the `From:` and `To`/`Cc`/`Bcc` headers.
    public var from: String?
    public var to: [String]
    public var cc: [String]
    public var bcc: [String]
    /// Where the message was written, with an outbox configured.
    public var outboxPath: String?
    /// `sendMail`, `mimeDraft` or `jsonDraft`: how it was submitted.
    public var submission: String = "sendMail"
    /// Attachments added to the draft it was sent from (in ``mime`` too when
    /// ``GraphEmulatorConfiguration/retainsAttachmentContent``).
    public var attachments: [GraphEmulatorAttachment] = []

    /// The MIME text (UTF-8, invalid bytes replaced).
    public var mimeText: String { String(decoding: mime, as: UTF8.self) }

    /// All recipients (To, Cc, Bcc).
    public var recipients: [String] { to + cc + bcc }
}
