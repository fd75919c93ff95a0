import GraphRelayMIME
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A message in the spool as handed to delivery: its metadata and access to its bytes, which are
/// read in chunks (never whole in memory).
public struct SpooledMessage: Sendable {
    public let record: SpoolRecord
    /// Where the record is (`queue` or `failed`).
    public let area: Spool.Area
    /// The path of the message bytes (`<area>/<id>.eml`).
    public let path: String
    let pool: NIOThreadPool
    let configuration: SpoolConfiguration
    /// The whole message, when ``Spool/beginDelivery(_:now:)`` read it with the metadata (at most
    /// ``SpoolConfiguration/deliveryPreloadSize`` bytes); nil otherwise: read ``bodyChunks(chunkSize:)``.
    public internal(set) var contents: ByteBuffer?

    public var id: QueueID { record.id }
    public var envelope: SpoolEnvelope { record.envelope }

    /// The header block (up to and including the line break of its last field; without the empty
    /// line), at most ``SpoolConfiguration/maxHeaderBlockSize`` bytes.
    public func readHeaderBlock() async throws -> ByteBuffer {
        let path = self.path
        let limit = configuration.maxHeaderBlockSize
        let chunk = configuration.readChunkSize
        return try await runOnPool {
            let reader = try SpoolMessageReader(path: path, expectedSize: record.size)
            defer { reader.close() }
            var bytes = ByteBuffer()
            var scanner = HeaderBoundaryScanner(limit: limit)
            while bytes.readableBytes < limit, let next = try reader.read(maxLength: chunk) {
                bytes.writeImmutableBuffer(next)
                if case .complete(let span) = scanner.scan(next.readableBytesView) {
                    return bytes.getSlice(at: bytes.readerIndex, length: span.headerLength)!
                }
            }
            if case .complete(let span) = scanner.finish() {
                return bytes.getSlice(at: bytes.readerIndex, length: span.headerLength)!
            }
            return bytes.getSlice(at: bytes.readerIndex, length: min(limit, bytes.readableBytes))!
        }
    }

    /// The message bytes as an async sequence of chunks (read on the spool's I/O threads). Throws
    /// ``SpoolError/corrupt(path:reason:)`` at the end if the file's size is not the recorded one.
    public func bodyChunks(chunkSize: Int? = nil) -> SpoolBodyChunks {
        SpoolBodyChunks(path: path, expectedSize: record.size, chunkSize: chunkSize ?? configuration.readChunkSize, pool: pool)
    }

    /// `length` bytes of the message from `offset` (fewer at its end), read on the spool's I/O
    /// threads (or from ``contents`` when the message was read whole). Throws
    /// ``SpoolError/corrupt(path:reason:)`` if the file is shorter than the recorded size.
    public func read(at offset: Int, length: Int) async throws -> ByteBuffer {
        let end = min(Int(record.size), offset + max(length, 0))
        guard offset < end else { return ByteBuffer() }
        if let contents {
            return contents.getSlice(at: contents.readerIndex + offset, length: end - offset) ?? ByteBuffer()
        }
        let path = self.path
        return try await runOnPool {
            let fd = try Posix.open(path, O_RDONLY)
            defer { Posix.close(fd) }
            var buffer = ByteBufferAllocator().buffer(capacity: end - offset)
            while buffer.readableBytes < end - offset {
                let position = offset + buffer.readableBytes
                let got = try Posix.pread(fd, into: &buffer, count: end - position, offset: position, path: path)
                if got == 0 { throw SpoolError.corrupt(path: path, reason: "ends at byte \(position), before the recorded \(end)") }
            }
            return buffer
        }
    }

    /// A blocking reader of the message bytes, for code already on a thread of its own.
    public func openReader() throws -> SpoolMessageReader {
        try SpoolMessageReader(path: path, expectedSize: record.size)
    }

    private func runOnPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await runBlocking(on: pool, body)
    }
}

/// Blocking sequential reads of a spooled message file.
public final class SpoolMessageReader: @unchecked Sendable {
    public let path: String
    private let expectedSize: Int64?
    private let lock = NIOLockedValueBox<(fd: Int32, read: Int64)>((-1, 0))

    init(path: String, expectedSize: Int64?) throws {
        self.path = path
        self.expectedSize = expectedSize
        let fd = try Posix.open(path, O_RDONLY)
        lock.withLockedValue { $0.fd = fd }
    }

    deinit {
        close()
    }

    /// The next chunk of at most `maxLength` bytes, or nil at the end: after the message's
    /// `expectedSize` bytes (a format-2 file goes on with its metadata), or at the end of the file.
    public func read(maxLength: Int = 64 * 1024) throws -> ByteBuffer? {
        try lock.withLockedValue { state throws -> ByteBuffer? in
            guard state.fd >= 0 else { throw SpoolError.closed }
            let count = expectedSize.map { Int(min(Int64(maxLength), max($0 - state.read, 0))) } ?? maxLength
            if count == 0 { return nil }
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            let got = try Posix.read(state.fd, into: &buffer, count: count, path: path)
            state.read += Int64(got)
            if got == 0 {
                if let expectedSize, state.read != expectedSize {
                    throw SpoolError.corrupt(path: path, reason: "\(state.read) bytes instead of \(expectedSize)")
                }
                return nil
            }
            return buffer
        }
    }

    public func close() {
        lock.withLockedValue { state in
            if state.fd >= 0 { Posix.close(state.fd) }
            state.fd = -1
        }
    }
}

/// The chunks of a spooled message, read on the spool's I/O threads.
public struct SpoolBodyChunks: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    let path: String
    let expectedSize: Int64
    let chunkSize: Int
    let pool: NIOThreadPool

    public func makeAsyncIterator() -> Iterator {
        Iterator(sequence: self)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let sequence: SpoolBodyChunks
        var reader: SpoolMessageReader?
        var finished = false

        init(sequence: SpoolBodyChunks) {
            self.sequence = sequence
        }

        public mutating func next() async throws -> ByteBuffer? {
            if finished { return nil }
            let sequence = self.sequence
            let reader: SpoolMessageReader
            if let existing = self.reader {
                reader = existing
            } else {
                reader = try await Self.run(sequence.pool) { try SpoolMessageReader(path: sequence.path, expectedSize: sequence.expectedSize) }
                self.reader = reader
            }
            do {
                let chunk = try await Self.run(sequence.pool) { try reader.read(maxLength: sequence.chunkSize) }
                if chunk == nil {
                    finished = true
                    reader.close()
                }
                return chunk
            } catch {
                finished = true
                reader.close()
                throw error
            }
        }

        private static func run<T: Sendable>(_ pool: NIOThreadPool, _ body: @escaping @Sendable () throws -> T) async throws -> T {
            do {
                return try await pool.runIfActive(body)
            } catch is NIOThreadPoolError.ThreadPoolInactive {
                throw SpoolError.closed
            }
        }
    }
}
