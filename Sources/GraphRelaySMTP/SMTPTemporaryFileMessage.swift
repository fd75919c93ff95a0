import NIOCore

/// A stored message in an unnamed temporary file (see ``SMTPSpillingMessageStore``).
struct SMTPTemporaryFileMessage: SMTPStoredMessage {
    let file: SMTPTemporaryFile
    let byteCount: Int

    func read(offset: Int, length: Int) async throws -> ByteBuffer {
        let start = min(max(offset, 0), byteCount)
        let count = min(max(length, 0), byteCount - start)
        return try file.read(offset: start, length: count)
    }
}
