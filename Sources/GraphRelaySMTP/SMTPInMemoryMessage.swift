import NIOCore

/// A stored message held in memory.
public struct SMTPInMemoryMessage: SMTPStoredMessage {
    public let bytes: ByteBuffer
    private let header: ByteBuffer?

    /// - Parameter header: the header block if already known (otherwise found on demand).
    public init(bytes: ByteBuffer, header: ByteBuffer? = nil) {
        self.bytes = bytes
        self.header = header
    }

    public var byteCount: Int { bytes.readableBytes }

    public func read(offset: Int, length: Int) async throws -> ByteBuffer {
        let start = min(max(offset, 0), bytes.readableBytes)
        let count = min(max(length, 0), bytes.readableBytes - start)
        return bytes.getSlice(at: bytes.readerIndex + start, length: count)!
    }

    public func headerBlock() async throws -> ByteBuffer {
        if let header { return header }
        let view = bytes.readableBytesView.prefix(Self.maximumHeaderBlockSize)
        let length = SMTPHeaderBlockScanner.headerLength(in: view) ?? view.count
        return bytes.getSlice(at: bytes.readerIndex, length: length)!
    }
}
