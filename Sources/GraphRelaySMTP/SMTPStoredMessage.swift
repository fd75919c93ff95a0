import NIOCore

/// A received message as stored by an ``SMTPMessageSink``: its size and random access to its
/// bytes. Handed to ``SMTPPolicy/deliver(_:)``.
///
/// ```swift
/// let head = try await message.content.read(offset: 0, length: 64 * 1024)   // to find the header section
/// for try await chunk in message.content.chunks(size: 48 * 1024) { … }      // stream it all
/// ```
public protocol SMTPStoredMessage: Sendable {
    /// Size in octets, `Received:` header included.
    var byteCount: Int { get }

    /// Up to `length` octets starting at `offset` (fewer only at the end; empty at or past the end).
    func read(offset: Int, length: Int) async throws -> ByteBuffer
}

extension SMTPStoredMessage {
    /// The content in order, in chunks of at most `size` octets, read as they are consumed.
    public func chunks(size: Int = 64 * 1024) -> SMTPMessageChunks {
        SMTPMessageChunks(message: self, chunkSize: size)
    }

    /// The whole content in one buffer. For small messages and tests; prefer ``chunks(size:)``.
    public func readAll() async throws -> ByteBuffer {
        try await read(offset: 0, length: byteCount)
    }
}
