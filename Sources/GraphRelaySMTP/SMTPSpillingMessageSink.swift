import NIOCore

/// The sink of ``SMTPSpillingMessageStore``: memory first, an unnamed temporary file once the
/// message outgrows the threshold.
actor SMTPSpillingMessageSink: SMTPMessageSink {
    private let memoryThreshold: Int
    private let directory: String
    private var memory = ByteBuffer()
    private var file: SMTPTemporaryFile?
    private var byteCount = 0
    private var closed = false

    init(memoryThreshold: Int, directory: String) {
        self.memoryThreshold = memoryThreshold
        self.directory = directory
    }

    func append(_ bytes: ByteBuffer) throws {
        guard !closed else { throw SMTPStorageError(message: "append after finish or discard") }
        byteCount += bytes.readableBytes
        if file == nil, memory.readableBytes + bytes.readableBytes <= memoryThreshold {
            memory.writeImmutableBuffer(bytes)
            return
        }
        if file == nil {
            let created = try SMTPTemporaryFile(directory: directory)
            try created.write(memory)
            memory = ByteBuffer()
            file = created
        }
        try file!.write(bytes)
    }

    func finish() throws -> any SMTPStoredMessage {
        guard !closed else { throw SMTPStorageError(message: "finish after finish or discard") }
        closed = true
        if let file {
            self.file = nil
            return SMTPTemporaryFileMessage(file: file, byteCount: byteCount)
        }
        return SMTPInMemoryMessage(bytes: memory)
    }

    func discard() {
        closed = true
        file = nil
        memory = ByteBuffer()
    }
}

/// A failure of the default message store.
public struct SMTPStorageError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { "message storage failed: \(message)" }
}
