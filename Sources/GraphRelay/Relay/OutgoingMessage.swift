import GraphRelayGraph
import GraphRelaySMTP
import NIOCore

/// A received message made ready for Graph: the header section rewritten (every envelope
/// recipient Graph would otherwise miss merged into `Bcc:`, optionally `From:` set to the route's
/// mailbox, a `Message-ID` added when missing) and the body streamed from storage untouched.
struct OutgoingMessage: Sendable {
    /// Header bytes followed by the stored message from ``bodyOffset`` on; replayable.
    let source: GraphMessageSource
    /// The same bytes by ranges, for the draft path.
    let content: MessageContent
    /// What the rewrite changed, for the log.
    let rewrite: HeaderRewriteResult

    /// Why a message cannot be prepared; each maps to a precise SMTP reply.
    enum Failure: Error, CustomStringConvertible {
        case headerTooLong(limit: Int)
        case storage(String)
        /// `requireHeaderFromMatch`: the `From:` addresses (after the rewrite) are not exactly the
        /// envelope sender.
        case headerFromMismatch(from: [String], sender: String?)

        var reply: SMTPReply {
            switch self {
            case .headerTooLong(let limit): SMTPReply(552, "5.3.4", "Error: message header section longer than \(limit) bytes")
            case .headerFromMismatch: SMTPReply(550, "5.7.1", "Error: the From: header address must be the envelope sender")
            case .storage: SMTPReply(451, "4.3.0", "Error: cannot read the message, try again later")
            }
        }

        var description: String {
            switch self {
            case .headerTooLong(let limit): "header section longer than \(limit) bytes"
            case .storage(let detail): "cannot read the stored message: \(detail)"
            case .headerFromMismatch(let from, let sender):
                "From: \(from.isEmpty ? "(no address)" : from.joined(separator: ", ")) is not the envelope sender \(sender.map { "<\($0)>" } ?? "<>") "
                    + "(requireHeaderFromMatch)"
            }
        }
    }

    /// Chunk size for streaming the stored body to the Graph client.
    static let chunkSize = 64 * 1024

    /// Prepares a received message for its route: envelope recipients merged into `Bcc:`, `From:`
    /// rewritten when the route says so, a `Message-ID` added under `hostname` when missing.
    static func prepare(_ message: SMTPIncomingMessage, route: RouteMatch, hostname: String, maxHeaderSize: Int) async throws(Failure) -> OutgoingMessage {
        try await prepare(
            content: message.content,
            envelopeRecipients: message.envelope.recipients.map(\.address),
            rewriteFrom: route.rewriteFrom ? route.mailbox : nil,
            messageIDDomain: hostname,
            maxHeaderSize: maxHeaderSize,
            requireFrom: route.requireHeaderFromMatch ? EnvelopeSender(message.envelope.sender.address) : nil
        )
    }

    static func prepare(
        content: any SMTPStoredMessage,
        envelopeRecipients: [String],
        rewriteFrom: String?,
        messageIDDomain: String,
        maxHeaderSize: Int,
        requireFrom: EnvelopeSender? = nil
    ) async throws(Failure) -> OutgoingMessage {
        let prefix: ByteBuffer
        do {
            prefix = try await content.read(offset: 0, length: min(content.byteCount, maxHeaderSize + 4))
        } catch {
            throw .storage("\(error)")
        }
        var head: MessageHead
        let bodyOffset: Int
        do {
            (head, bodyOffset) = try MessageHead.parse(prefix.readableBytesView, isComplete: prefix.readableBytes >= content.byteCount,
                                                       limit: maxHeaderSize)
        } catch {
            switch error {
            case .headerSectionTooLong(let limit): throw .headerTooLong(limit: limit)
            case .incomplete: throw .headerTooLong(limit: maxHeaderSize)
            }
        }
        let rewrite = head.rewrite(HeaderRewriteOptions(
            envelopeRecipients: envelopeRecipients, rewriteFrom: rewriteFrom, messageIDDomain: messageIDDomain
        ))
        if let requireFrom {
            // Exactly one From: address, equal to the envelope sender (the null sender matches none).
            let from = head.fromAddresses
            guard from.count == 1, let sender = requireFrom.canonicalAddress, from[0].canonical == sender else {
                throw .headerFromMismatch(from: from.map(\.addrSpec), sender: requireFrom.address)
            }
        }
        let header = ByteBuffer(bytes: head.bytes)
        let total = content.byteCount
        let source = GraphMessageSource(byteCount: header.readableBytes + total - bodyOffset) { sink in
            try await sink(header)
            var offset = bodyOffset
            while offset < total {
                let chunk = try await content.read(offset: offset, length: min(chunkSize, total - offset))
                guard chunk.readableBytes > 0 else { break }
                offset += chunk.readableBytes
                try await sink(chunk)
            }
        }
        let headerCount = header.readableBytes
        let stored = content
        let ranges = MessageContent(byteCount: source.byteCount) { offset, length in
            var piece = ByteBuffer()
            var position = offset
            let end = min(offset + length, headerCount + total - bodyOffset)
            if position < headerCount, let slice = header.getSlice(at: header.readerIndex + position, length: min(end, headerCount) - position) {
                piece = slice
                position += slice.readableBytes
            }
            while position < end {
                let part = try await stored.read(offset: bodyOffset + position - headerCount, length: end - position)
                guard part.readableBytes > 0 else { break }
                position += part.readableBytes
                piece.writeImmutableBuffer(part)
            }
            return piece
        }
        return OutgoingMessage(source: source, content: ranges, rewrite: rewrite)
    }
}
