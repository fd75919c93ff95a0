#if canImport(Glibc)
import Glibc
#endif

/// Free space on the file system that holds the spool and the messages being received
/// (`spool.minimumFreeSpace`): below the minimum, new transactions are refused with
/// `452 4.3.1` rather than filling the disk halfway through a message.
struct StorageSpace: Sendable {
    /// A directory on the file system to watch (the spool's).
    let directory: String
    /// Bytes that must stay free; 0 turns the check off.
    let minimum: Int
    /// Free bytes on the file system of a path (``available(in:)``; replaced in tests).
    var available: @Sendable (String) -> Int? = StorageSpace.available(in:)

    /// Whether a new message of `size` bytes (the `SIZE=` the client announced, if any) leaves at
    /// least ``minimum`` free. When the file system cannot be asked, the answer is yes: the writes
    /// themselves still fail cleanly (`451 4.3.0`).
    func hasRoom(for size: Int?) -> Bool {
        guard minimum > 0, let available = available(directory) else { return true }
        let needed = minimum.addingReportingOverflow(max(0, size ?? 0))
        return !needed.overflow && available >= needed.partialValue
    }

    /// Bytes an unprivileged process may still write on the file system of `path`.
    static func available(in path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let total = UInt64(info.f_bavail).multipliedReportingOverflow(by: UInt64(info.f_frsize))
        return total.overflow ? Int.max : Int(clamping: total.partialValue)
    }
}
