import NIOCore

/// A stored message held in memory.
public struct SMTPInMemoryMessage: SMTPStoredMessage {
    public let bytes: ByteBuffer

    public init(bytes: ByteBuffer) {
        self.bytes = bytes
    }

    public var byteCount: Int { bytes.readableBytes }

    public func read(offset: Int, length: Int) async throws -> ByteBuffer {
        let start = min(max(offset, 0), bytes.readableBytes)
        let count = min(max(length, 0), bytes.readableBytes - start)
        return bytes.getSlice(at: bytes.readerIndex + start, length: count)!
    }
}
