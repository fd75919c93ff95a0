/// Tuning of the spool's file handling. The defaults suit a server; tests shrink the buffers.
public struct SpoolConfiguration: Sendable {
    /// Share one directory fsync between concurrent commits (group commit). Default `true`; `false`
    /// syncs the directory once per commit (only useful to measure the difference).
    public var groupCommit: Bool = true
    /// With group commit, how many directory fsyncs may run at once (each covering every commit
    /// waiting when it started). Default 4: overlapping fsyncs cost about one journal commit on
    /// ext4/XFS, while a burst of commits still shares them. 1 serialises them (classic group
    /// commit; measured slower on ext4, see docs/spool.md).
    public var concurrentDirectorySyncs: Int = 4
    /// Threads doing the blocking file I/O (writes, fsyncs, renames). Default 8: they mostly wait
    /// on the disk, and parallel fsyncs let the filesystem merge journal commits.
    public var ioThreads: Int = 8
    /// Bytes collected in memory before they are written to the temporary file. Default 64 KiB, so a
    /// typical message is written in one call at commit.
    public var writeBufferSize: Int = 64 * 1024
    /// Bytes a writer may have waiting for the disk before `append` suspends (back-pressure for a
    /// client that sends faster than the disk writes). Default 1 MiB.
    public var maxPendingWriteBytes: Int = 1024 * 1024
    /// Messages up to this size are read whole when their delivery begins (one trip to the I/O
    /// threads instead of one per chunk). Default 256 KiB.
    public var deliveryPreloadSize: Int = 256 * 1024
    /// Chunk size when a message is read back. Default 64 KiB.
    public var readChunkSize: Int = 64 * 1024
    /// Largest header block returned by `readHeaderBlock` (the rest is cut). Default 1 MiB.
    public var maxHeaderBlockSize: Int = 1024 * 1024

    /// Files of delivered messages kept in `tmp/` and overwritten by new messages instead of
    /// deleting them and creating new ones (``SpoolFilePool``: on ext4 creating files soon after
    /// deleting many costs far more than reusing them). One file per message (two once its
    /// metadata changed), so the default 16384 covers a backlog of 8192 to 16384 messages; 0 turns
    /// reuse off. Spares are empty: a delivered message's content does not stay on disk.
    public var recycledFiles: Int = 16384

    /// Empty spares a server creates in `tmp/` right after it opened the spool, in the background,
    /// up to this many (and at most ``recycledFiles``), so that the first burst of mail after a
    /// start writes into existing files like the bursts after it. Default 0 (none); the relay's
    /// server uses ``serverPreallocatedFiles``.
    public var preallocatedFiles: Int = 0

    /// What `graph-relay serve` preallocates: 4096 empty files, a few megabytes of inodes and
    /// directory entries and well under a second of a start.
    public static let serverPreallocatedFiles = 4096

    /// Empty message files a server keeps ready in `queue/` (``SpoolSlots``, docs/spool.md
    /// "Slots"), so that a commit costs one `fdatasync` instead of a sync, a rename and a
    /// directory fsync. Default 0 (none: every commit goes through `tmp/`); the relay's server
    /// uses ``serverSlots``.
    public var slots: Int = 0

    /// What `graph-relay serve` keeps ready: 64 slots, made 32 or more at a time with one fsync
    /// of `queue/` each batch.
    public static let serverSlots = 64

    /// How long a starting server waits for `server.lock` before it reports the spool in use.
    /// Default 3 s: the lock can be held for a moment by a server that is stopping, or by a child
    /// process between its fork and its exec (it inherits the lock file's descriptor until then).
    public var serverLockWait: Duration = .seconds(3)

    /// Test hook: returns an errno to make the named step fail as if the system call had.
    var faults: SpoolFaultInjector?

    public init() {}
}

/// The steps of the spool at which tests inject I/O errors.
enum SpoolFaultPoint: String, Sendable {
    case writeMessage, syncMessage, writeMetadata, renameMessage, renameMetadata, syncDirectory
}

struct SpoolFaultInjector: Sendable {
    let hook: @Sendable (SpoolFaultPoint, String) -> Int32?

    func check(_ point: SpoolFaultPoint, _ path: String) throws(SpoolError) {
        if let code = hook(point, path) {
            throw SpoolError.io(operation: "\(point.rawValue) (injected)", path: path, errno: code)
        }
    }
}

extension Optional where Wrapped == SpoolFaultInjector {
    func check(_ point: SpoolFaultPoint, _ path: String) throws(SpoolError) {
        if let injector = self { try injector.check(point, path) }
    }
}
