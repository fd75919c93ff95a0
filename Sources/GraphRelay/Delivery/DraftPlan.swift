import GraphRelayGraph
import GraphRelayMIME
import NIOCore

/// What the draft path sends for one message: the draft (the device's MIME without the parts
/// taken out, or the message as Graph JSON) and the parts that become attachments, with the
/// names, types, `isInline` and `contentId` Graph shows them with.
struct DraftPlan: Sendable {
    enum Draft: Sendable {
        case mime(GraphMessageSource)
        case json(ByteBuffer)
    }

    struct Attachment: Sendable {
        var info: GraphAttachment
        /// The part's content, decoded as it is read.
        var content: GraphContentSource
    }

    var format: RelayConfiguration.LargeMessageFormat
    var draft: Draft
    var attachments: [Attachment]

    /// The MIME form: the message without its largest parts (attachments first) so that the rest
    /// is at most `budget` bytes; those parts become attachments.
    static func mime(_ structure: MIMEStructure, content: MessageContent, budget: Int) throws(MIMEExtractionPlan.Failure) -> DraftPlan {
        let plan = try MIMEExtractionPlan.make(structure, budget: budget)
        var numbering = AttachmentNames()
        let attachments = plan.extracted.map { index in
            attachment(structure.entities[index], content: content, names: &numbering)
        }
        return DraftPlan(format: .mime, draft: .mime(content.source(of: plan.remainder)), attachments: attachments)
    }

    static func attachment(_ entity: MIMEEntity, content: MessageContent, names: inout AttachmentNames) -> Attachment {
        let info = GraphAttachment(
            name: names.name(for: entity),
            contentType: entity.contentType.value,
            size: entity.decodedSize ?? 0,
            isInline: entity.isInline && entity.contentID != nil,
            contentID: entity.contentID
        )
        return Attachment(info: info, content: content.decoded(entity))
    }

    /// File names for attachments: the part's own, else `attachment-N.<extension of its type>`.
    struct AttachmentNames {
        private var counter = 0

        mutating func name(for entity: MIMEEntity) -> String {
            counter += 1
            if let name = entity.filename { return String(name.prefix(255)) }
            if entity.contentType.value == "message/rfc822" { return "message-\(counter).eml" }
            return "attachment-\(counter)" + (Self.extensions[entity.contentType.value].map { "." + $0 } ?? "")
        }

        static let extensions: [String: String] = [
            "application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/tiff": "tif",
            "text/plain": "txt", "text/html": "html", "text/csv": "csv", "application/zip": "zip", "application/xml": "xml",
            "text/xml": "xml", "application/octet-stream": "bin",
        ]
    }
}
