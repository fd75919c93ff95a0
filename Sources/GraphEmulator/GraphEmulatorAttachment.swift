/// An attachment of a message sent through a draft.
public struct GraphEmulatorAttachment: Sendable, Hashable {
    public var name: String
    public var contentType: String
    /// Size in bytes.
    public var size: Int
    public var isInline: Bool
    public var contentID: String?
    /// SHA-256 of the content, lowercase hex.
    public var sha256: String
    /// The content, when ``GraphEmulatorConfiguration/retainsAttachmentContent`` (else nil once
    /// the message was sent).
    public var content: [UInt8]?
    /// How it arrived: `attachments` (one request) or `uploadSession`.
    public var via: String
}
