import Foundation
import GraphRelayGraph
import GraphRelayMIME
import NIOCore

extension DraftPlan {
    /// The largest body (decoded) the JSON draft carries; a larger one becomes an attachment.
    static let jsonBodyLimit = 2 * 1024 * 1024

    /// The JSON form: the message's subject, addresses (`From`, `To`, `Cc`, `Bcc` — envelope-only
    /// recipients are already in `Bcc:` —, `Reply-To`), HTML body (else its text body),
    /// `Message-ID` and `X-` header fields as a Graph `message`; every other part becomes an
    /// attachment, inline images with their `contentId`. What this form loses is listed in
    /// docs/graph.md.
    static func json(_ structure: MIMEStructure, content: MessageContent) async throws -> DraftPlan {
        guard structure.isWellFormed else { throw MIMEExtractionPlan.Failure.malformed(structure.problems) }
        let body = bodyPart(structure)
        var dropped = Set<Int>()
        if let body {
            dropped.insert(body.index)
            // Its alternatives (the text version of an HTML body) are the same content.
            if let parent = body.parent, structure.entities[parent].contentType.value == "multipart/alternative" {
                for sibling in structure.entities[parent].children where structure.entities[sibling].mediaType == "text" {
                    dropped.insert(sibling)
                }
            }
        }
        var names = AttachmentNames()
        var attachments: [Attachment] = []
        for leaf in structure.leaves where !dropped.contains(leaf.index) {
            if let problem = leaf.encodingProblem { throw MIMEExtractionPlan.Failure.undecodable(part: leaf.index, reason: problem) }
            attachments.append(attachment(leaf, content: content, names: &names))
        }

        var message: [String: Any] = [:]
        if let subject = structure.header("Subject") { message["subject"] = EncodedWord.decodeText(subject.value).trimmingASCIIWhitespace() }
        if let body {
            let bytes = try await collect(content.decoded(body))
            message["body"] = [
                "contentType": body.contentType.value == "text/html" ? "html" : "text",
                "content": EncodedWord.decode(bytes, charset: body.contentType[parameter: "charset"]?.lowercased() ?? "us-ascii"),
            ]
        }
        if let from = addresses(structure, "From").first { message["from"] = from }
        for (field, key) in [("To", "toRecipients"), ("Cc", "ccRecipients"), ("Bcc", "bccRecipients"), ("Reply-To", "replyTo")] {
            let list = addresses(structure, field)
            if !list.isEmpty { message[key] = list }
        }
        if let messageID = structure.header("Message-ID")?.text, !messageID.isEmpty { message["internetMessageId"] = messageID }
        let custom = structure.headerFields.filter { $0.name.lowercased().hasPrefix("x-") }.map { field in
            ["name": field.name, "value": EncodedWord.decodeText(field.value).trimmingASCIIWhitespace()]
        }
        if !custom.isEmpty { message["internetMessageHeaders"] = custom }
        let data = try JSONSerialization.data(withJSONObject: message, options: [.sortedKeys, .withoutEscapingSlashes])
        return DraftPlan(format: .json, draft: .json(ByteBuffer(bytes: data)), attachments: attachments)
    }

    /// The part shown as the message's body: the first HTML part that is not an attachment, else
    /// the first such text part; none when it is too large for the JSON draft or undecodable.
    static func bodyPart(_ structure: MIMEStructure) -> MIMEEntity? {
        let texts = structure.leaves.filter { leaf in
            !leaf.isAttachment && (leaf.contentType.value == "text/html" || leaf.contentType.value == "text/plain")
                && leaf.encodingProblem == nil && (leaf.decodedSize ?? .max) <= jsonBodyLimit
        }
        return texts.first { $0.contentType.value == "text/html" } ?? texts.first
    }

    /// A header's addresses as Graph `recipient` objects.
    static func addresses(_ structure: MIMEStructure, _ name: String) -> [[String: Any]] {
        structure.headers(name).flatMap { AddressListParser.parse($0.value) }.map { address in
            var email: [String: Any] = ["address": address.addrSpec]
            if let name = address.displayName, !name.isEmpty { email["name"] = name }
            return ["emailAddress": email]
        }
    }

    /// All of a content source, in memory (bodies of at most ``jsonBodyLimit``).
    static func collect(_ source: GraphContentSource) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.byteCount)
        try await source.messageSource.forEachChunk { bytes += $0.readableBytesView }
        return bytes
    }
}
