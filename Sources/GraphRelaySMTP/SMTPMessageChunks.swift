import NIOCore

/// The content of an ``SMTPStoredMessage`` as an asynchronous sequence of chunks, each read only
/// when the consumer asks for it.
public struct SMTPMessageChunks: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    let message: any SMTPStoredMessage
    let chunkSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let message: any SMTPStoredMessage
        let chunkSize: Int
        var offset = 0

        public mutating func next() async throws -> ByteBuffer? {
            guard offset < message.byteCount else { return nil }
            let chunk = try await message.read(offset: offset, length: Swift.max(1, chunkSize))
            guard chunk.readableBytes > 0 else { return nil }
            offset += chunk.readableBytes
            return chunk
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(message: message, chunkSize: chunkSize)
    }
}
