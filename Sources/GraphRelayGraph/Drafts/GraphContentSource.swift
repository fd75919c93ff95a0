import NIOCore

/// Reads content front to back in pieces (see ``GraphContentSource``).
public protocol GraphContentReader {
    /// The next piece (possibly empty), or nil at the end.
    mutating func next() async throws -> ByteBuffer?
}

/// Content of known size for an attachment: read in pieces, and read again from the start when
/// an upload has to go back (a chunk the upload session lost). A message's part is read from the
/// spool file and decoded while it is read: no attachment is held whole in memory.
public struct GraphContentSource: Sendable {
    /// The exact number of bytes every reader yields.
    public let byteCount: Int
    let makeReader: @Sendable () -> any GraphContentReader

    public init(byteCount: Int, makeReader: @escaping @Sendable () -> any GraphContentReader) {
        self.byteCount = byteCount
        self.makeReader = makeReader
    }

    /// Content held in memory (tests, small parts).
    public static func bytes(_ buffer: ByteBuffer, pieceSize: Int = 64 * 1024) -> GraphContentSource {
        GraphContentSource(byteCount: buffer.readableBytes) { BufferReader(rest: buffer, pieceSize: pieceSize) }
    }

    /// The same content as a ``GraphMessageSource`` (for requests that stream it once).
    public var messageSource: GraphMessageSource {
        let makeReader = self.makeReader
        return GraphMessageSource(byteCount: byteCount) { sink in
            var reader = makeReader()
            while let piece = try await reader.next() {
                try await sink(piece)
            }
        }
    }

    private struct BufferReader: GraphContentReader {
        var rest: ByteBuffer
        let pieceSize: Int

        mutating func next() async throws -> ByteBuffer? {
            guard rest.readableBytes > 0 else { return nil }
            return rest.readSlice(length: min(pieceSize, rest.readableBytes))
        }
    }
}
