import NIOCore

/// A received message as stored by an ``SMTPMessageSink``: its size, random access to its bytes,
/// and a cheap way to look at its header section. Handed to ``SMTPPolicy/deliver(_:)``.
///
/// ```swift
/// let header = try await message.content.headerBlock()      // Received: … up to the blank line
/// for try await chunk in message.content.chunks(size: 48 * 1024) { … }   // stream it all
/// ```
public protocol SMTPStoredMessage: Sendable {
    /// Size in octets, `Received:` header included.
    var byteCount: Int { get }

    /// Up to `length` octets starting at `offset` (fewer only at the end; empty at or past the end).
    func read(offset: Int, length: Int) async throws -> ByteBuffer

    /// The header section: from the first octet through the empty line that ends it (or the whole
    /// message if it has no body), at most 64 KiB. A default implementation reads it from the start.
    func headerBlock() async throws -> ByteBuffer
}

extension SMTPStoredMessage {
    /// Longest header block returned by the default ``headerBlock()``.
    public static var maximumHeaderBlockSize: Int { 64 * 1024 }

    public func headerBlock() async throws -> ByteBuffer {
        var start = try await read(offset: 0, length: Self.maximumHeaderBlockSize)
        let length = SMTPHeaderBlockScanner.headerLength(in: start.readableBytesView) ?? start.readableBytes
        return start.readSlice(length: length)!
    }

    /// The content in order, in chunks of at most `size` octets, read as they are consumed.
    public func chunks(size: Int = 64 * 1024) -> SMTPMessageChunks {
        SMTPMessageChunks(message: self, chunkSize: size)
    }

    /// The whole content in one buffer. For small messages and tests; prefer ``chunks(size:)``.
    public func readAll() async throws -> ByteBuffer {
        try await read(offset: 0, length: byteCount)
    }
}
