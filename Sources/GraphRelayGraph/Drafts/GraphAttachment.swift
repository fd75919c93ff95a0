/// A file to add to a draft: what Graph's `fileAttachment` says of it.
public struct GraphAttachment: Sendable, Hashable, CustomStringConvertible {
    /// The file name shown to recipients.
    public var name: String
    /// The media type, e.g. `application/pdf`.
    public var contentType: String
    /// The size of the content in bytes (decoded, not base64).
    public var size: Int
    /// Shown in the body rather than as an attachment (an image referenced by `cid:`).
    public var isInline: Bool
    /// The `Content-ID` (without angle brackets) an HTML body refers to as `cid:…`.
    public var contentID: String?

    public init(name: String, contentType: String, size: Int, isInline: Bool = false, contentID: String? = nil) {
        self.name = name
        self.contentType = contentType
        self.size = size
        self.isInline = isInline
        self.contentID = contentID
    }

    public var description: String {
        "'\(name)' (\(contentType), \(size) bytes\(isInline ? ", inline" : "")\(contentID.map { ", cid \($0)" } ?? ""))"
    }
}

/// Whether a draft is still one.
public enum GraphDraftState: Sendable, Hashable {
    /// It is in the mailbox and not sent.
    case draft
    /// Graph reports it sent (`isDraft: false`, e.g. with immutable ids).
    case sent
    /// No such message: sent and moved to Sent Items (which changes its id), or deleted.
    case notFound
}
