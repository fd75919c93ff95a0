import Foundation

/// A draft the delivery built at the far end (Graph's drafts): its remote id, where, and how far
/// it got. Written to the message's metadata (fsynced) at each step, so that after a crash or an
/// ambiguous answer the next attempt finishes it or removes it, and never leaves it behind or
/// sends it twice. Opaque to the spool.
public struct SpoolDraft: Codable, Sendable, Hashable {
    public enum Stage: String, Codable, Sendable, Hashable {
        /// A draft is being created; its id is not known yet (it may exist if the answer was lost).
        case creating
        /// The draft exists and attachments are being added.
        case building
        /// The draft is complete and its send was requested (perhaps without an answer).
        case sending
    }

    public var stage: Stage
    /// The remote id, once known.
    public var id: String?
    /// The mailbox it lives in.
    public var mailbox: String
    /// `mime` or `json`: how it was created.
    public var format: String
    public var updatedAt: Date

    public init(stage: Stage, id: String? = nil, mailbox: String, format: String, updatedAt: Date = Date()) {
        self.stage = stage
        self.id = id
        self.mailbox = mailbox
        self.format = format
        self.updatedAt = SpoolJSON.stored(updatedAt)
    }
}
