import Foundation

/// Everything the spool can fail with. The descriptions name the file and the system's reason, so
/// an operator can act on them; the SMTP side maps any of these to `451 4.3.0`.
public enum SpoolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed: `operation` (e.g. "fsync") on `path`, with `errno`.
    case io(operation: String, path: String, errno: Int32)
    /// Another server process holds the spool's lock.
    case locked(directory: String, holder: String)
    /// No message with that id (in the queue, or in the failed area when that was asked for).
    case notFound(QueueID)
    /// A string that is not a queue id.
    case invalidQueueID(String)
    /// A metadata or message file that cannot be understood.
    case corrupt(path: String, reason: String)
    /// `append`, `commit` or `abort` after the writer was committed or aborted.
    case writerFinished(QueueID)
    /// The spool was closed.
    case closed

    public var description: String {
        switch self {
        case .io(let operation, let path, let code):
            "spool I/O error: \(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
        case .locked(let directory, let holder):
            "spool \(directory) is in use by another graph-relay server (\(holder))"
        case .notFound(let id):
            "no message \(id) in the spool"
        case .invalidQueueID(let string):
            "'\(string)' is not a queue id (18 characters, 0-9 and A-Z without I, L, O, U)"
        case .corrupt(let path, let reason):
            "spool file \(path) is damaged: \(reason)"
        case .writerFinished(let id):
            "message \(id) was already committed or aborted"
        case .closed:
            "the spool is closed"
        }
    }
}
