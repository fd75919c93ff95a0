import Foundation

/// Collects everything written to a pipe, on a thread of its own doing blocking reads until end
/// of file.
///
/// Not `FileHandle.readabilityHandler`: on Linux its handler can drop chunks when the machine is
/// busy (a child's output arrived with its beginning missing — "REAMING 5716" for
/// "STREAMING 5716" — and a test waiting for a line its child had printed timed out).
public final class PipeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected = Data()
    private let handle: FileHandle

    /// Starts reading `pipe` (its writing end belongs to the child: the caller's copy is closed
    /// once the child is running, by `Process`).
    public init(_ pipe: Pipe) {
        self.handle = pipe.fileHandleForReading
        let fd = handle.fileDescriptor
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                lock.lock()
                collected.append(contentsOf: buffer[0..<count])
                lock.unlock()
            }
        }
        thread.name = "pipe collector"
        thread.start()
    }

    /// Everything read so far.
    public var data: Data {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }

    public var text: String { String(decoding: data, as: UTF8.self) }
}
