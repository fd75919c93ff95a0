#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// An unnamed temporary file: created with `mkstemp` (mode 0600) and unlinked at once, so it
/// vanishes when closed, even after a crash. Closed when the last reference goes away. Reads with
/// `pread` are safe from any thread; writes come from one ``SMTPSpillingMessageSink`` at a time.
final class SMTPTemporaryFile: Sendable {
    let descriptor: Int32

    init(directory: String) throws {
        var template = Array("\(directory)/graph-relay-msg-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw SMTPStorageError(message: "cannot create a temporary file in \(directory): \(Self.errnoText())")
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(path)
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    func write(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc_or_Darwin_write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SMTPStorageError(message: "cannot write a temporary file: \(Self.errnoText())")
                }
                offset += written
            }
        }
    }

    /// Up to `length` octets at `offset`.
    func read(offset: Int, length: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: max(length, 0))
        var done = 0
        while done < length {
            var failure: Int32 = 0
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length - done) { pointer -> Int in
                let result = pread(descriptor, pointer.baseAddress!, length - done, off_t(offset + done))
                if result < 0 {
                    failure = errno
                    return 0
                }
                return result
            }
            if failure == EINTR { continue }
            if failure != 0 {
                throw SMTPStorageError(message: "cannot read a temporary file: \(String(cString: strerror(failure)))")
            }
            if count == 0 { break }
            done += count
        }
        return buffer
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

@inline(__always)
private func Glibc_or_Darwin_write(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, pointer, count)
    #else
    Darwin.write(fd, pointer, count)
    #endif
}
