import GraphRelayGraph
import GraphRelayMIME
import NIOCore

/// A message to deliver, read by byte ranges (from the spool file, or from the session's stored
/// copy behind its rewritten header): streamed whole to sendMail, scanned for its MIME structure,
/// and read part by part for the draft path. Never held whole, unless it was small enough to be
/// read whole already (``whole``).
struct MessageContent: Sendable {
    let byteCount: Int
    /// The whole message, when it is already in memory.
    let whole: ByteBuffer?
    /// `length` bytes from `offset` (fewer only at the end).
    let read: @Sendable (_ offset: Int, _ length: Int) async throws -> ByteBuffer

    /// How much is read at a time.
    static let pieceSize = 256 * 1024

    init(byteCount: Int, whole: ByteBuffer? = nil, read: @escaping @Sendable (_ offset: Int, _ length: Int) async throws -> ByteBuffer) {
        self.byteCount = byteCount
        self.whole = whole
        self.read = read
    }

    static func bytes(_ buffer: ByteBuffer) -> MessageContent {
        MessageContent(byteCount: buffer.readableBytes, whole: buffer) { offset, length in
            buffer.getSlice(at: buffer.readerIndex + offset, length: max(0, min(length, buffer.readableBytes - offset))) ?? ByteBuffer()
        }
    }

    /// The whole message, front to back.
    var source: GraphMessageSource {
        if let whole { return .bytes(whole) }
        return source(of: [.original(0..<byteCount)])
    }

    /// The message with only `segments` of it (and the bytes they insert).
    func source(of segments: [MIMEExtractionPlan.Segment]) -> GraphMessageSource {
        let read = self.read
        return GraphMessageSource(byteCount: segments.reduce(0) { $0 + $1.count }) { sink in
            for segment in segments {
                switch segment {
                case .inserted(let bytes):
                    try await sink(ByteBuffer(bytes: bytes))
                case .original(let range):
                    var offset = range.lowerBound
                    while offset < range.upperBound {
                        let piece = try await read(offset, min(Self.pieceSize, range.upperBound - offset))
                        guard piece.readableBytes > 0 else { throw GraphMessageSourceError("the message ends at byte \(offset)") }
                        offset += piece.readableBytes
                        try await sink(piece)
                    }
                }
            }
        }
    }

    /// The message's MIME structure, in one pass.
    func structure() async throws -> MIMEStructure {
        var scanner = MIMEScanner()
        try await source.forEachChunk { scanner.scan($0) }
        return scanner.finish()
    }

    /// A leaf part's content with its transfer encoding undone, read on demand.
    func decoded(_ entity: MIMEEntity) -> GraphContentSource {
        let read = self.read
        let range = entity.bodyRange
        let encoding = entity.transferEncoding
        return GraphContentSource(byteCount: entity.decodedSize ?? 0) {
            PartReader(read: read, range: range, position: range.lowerBound, decoder: MIMETransferDecoder(encoding))
        }
    }

    /// Reads a part's body and decodes it piece by piece.
    private struct PartReader: GraphContentReader {
        let read: @Sendable (_ offset: Int, _ length: Int) async throws -> ByteBuffer
        let range: Range<Int>
        var position: Int
        var decoder: MIMETransferDecoder
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            if finished { return nil }
            var output: ByteBuffer? = ByteBuffer()
            if position >= range.upperBound {
                finished = true
                try decoder.finish(into: &output)
                return output
            }
            let piece = try await read(position, min(MessageContent.pieceSize, range.upperBound - position))
            guard piece.readableBytes > 0 else { throw GraphMessageSourceError("the message ends at byte \(position)") }
            position += piece.readableBytes
            try decoder.decode(piece, into: &output)
            return output
        }
    }
}
