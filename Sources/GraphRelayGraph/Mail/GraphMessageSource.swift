import Foundation
import NIOCore
import NIOPosix

/// The raw RFC 822 message to submit, as a replayable source of byte chunks of known total size.
///
/// ``GraphClient`` reads it once per attempt (twice when a 401 forces a token refresh), encoding
/// to base64 on the fly, so the message is never held whole in memory by the client. Each run of
/// the source must yield exactly ``byteCount`` bytes from the start of the message.
public struct GraphMessageSource: Sendable {
    /// Size of the raw message in bytes.
    public let byteCount: Int
    let run: @Sendable (_ sink: (ByteBuffer) async throws -> Void) async throws -> Void

    /// - Parameters:
    ///   - byteCount: the exact size of the message.
    ///   - chunks: hands every chunk, in order, to `sink`; may be called more than once.
    public init(byteCount: Int, chunks: @escaping @Sendable (_ sink: (ByteBuffer) async throws -> Void) async throws -> Void) {
        self.byteCount = byteCount
        self.run = chunks
    }

    /// Hands every chunk, in order, to `body`: one read of the message, e.g. to copy it into the
    /// spool.
    public func forEachChunk(_ body: (ByteBuffer) async throws -> Void) async throws {
        try await run(body)
    }

    /// A message held in memory (handed on in 64 KiB slices, without copying).
    public static func bytes(_ buffer: ByteBuffer) -> GraphMessageSource {
        GraphMessageSource(byteCount: buffer.readableBytes) { sink in
            var rest = buffer
            while rest.readableBytes > 0, let slice = rest.readSlice(length: min(rest.readableBytes, 64 * 1024)) {
                try await sink(slice)
            }
        }
    }

    /// A message held in memory.
    public static func bytes(_ bytes: [UInt8]) -> GraphMessageSource {
        .bytes(ByteBuffer(bytes: bytes))
    }

    /// A message produced by an async sequence of chunks; `makeSequence` is called once per read.
    public static func sequence<S: AsyncSequence & Sendable>(byteCount: Int, _ makeSequence: @escaping @Sendable () -> S) -> GraphMessageSource
        where S.Element == ByteBuffer {
        GraphMessageSource(byteCount: byteCount) { sink in
            for try await chunk in makeSequence() {
                try await sink(chunk)
            }
        }
    }

    /// A message stored in a file (e.g. a spool file), read in `chunkSize` pieces on NIO's
    /// blocking-I/O thread pool. The size is taken when the source is made; a file that changes
    /// size afterwards fails the send with a length mismatch.
    public static func file(path: String, chunkSize: Int = 64 * 1024) throws -> GraphMessageSource {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        return GraphMessageSource(byteCount: size) { sink in
            let pool = NIOThreadPool.singleton
            let fd = try await pool.runIfActive { () throws -> Int32 in
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw GraphMessageSourceError("cannot open \(path): \(String(cString: strerror(errno)))") }
                return fd
            }
            defer { close(fd) }
            var offset = 0
            while true {
                let readOffset = offset
                let chunk = try await pool.runIfActive { () throws -> ByteBuffer in
                    var buffer = ByteBufferAllocator().buffer(capacity: chunkSize)
                    var failure: Int32 = 0
                    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { pointer in
                        let count = pread(fd, pointer.baseAddress, chunkSize, off_t(readOffset))
                        if count < 0 { failure = errno; return 0 }
                        return count
                    }
                    if failure != 0 { throw GraphMessageSourceError("cannot read \(path): \(String(cString: strerror(failure)))") }
                    return buffer
                }
                if chunk.readableBytes == 0 { break }
                offset += chunk.readableBytes
                try await sink(chunk)
            }
        }
    }
}
