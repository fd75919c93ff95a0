import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The durable spool: a directory of accepted messages waiting for delivery.
///
/// Layout (see docs/spool.md):
/// ```
/// <directory>/server.lock      flock held by the running server (contains its pid)
/// <directory>/attempts.log     delivery attempts started (one line each; see SpoolAttemptJournal)
/// <directory>/tmp/             writes in progress (removed when a server opens the spool) and
///                              spares: files of delivered messages kept for reuse (SpoolFilePool)
/// <directory>/queue/<id>.eml   the message bytes, then the metadata as committed (SpoolTrailer);
///                              immutable once committed
/// <directory>/queue/<id>.json  the metadata once it changed after commit (replaced atomically
///                              by rename); until then the trailer is the metadata
/// <directory>/failed/<id>.*    messages given up on, with the reason in the JSON
/// <directory>/corrupt/         damaged files moved aside by recovery
/// <directory>/locks/NN.lock    64 lock files; a message's read-modify-write holds one (flock)
/// ```
/// A message exists in an area when its `.eml` does and carries its metadata (a trailer, or a
/// `.json` beside it): commit renames the `.eml` in; moves write the `.json` into the target
/// first; delivery and delete remove the `.eml` first. Recovery removes lone `.json` files and
/// lone format-1 `.eml` files (no trailer).
///
/// Open it in ``Mode/server`` once per server process (takes `server.lock`, recovers), in
/// ``Mode/tool`` from queue tooling while a server runs (no recovery, no server lock). All
/// blocking I/O runs on the spool's own thread pool; call ``close()`` when done.
public final class Spool: Sendable {
    public enum Mode: Sendable {
        /// The delivering server: exclusive, recovers the spool on open.
        case server
        /// Queue tooling beside a running server: no recovery, per-message locks only.
        case tool
    }

    public enum Area: String, Sendable, CaseIterable {
        case queue
        case failed
    }

    /// The spool directory.
    public let directory: String
    public let mode: Mode
    public let configuration: SpoolConfiguration
    /// What recovery found and repaired when the spool was opened (empty in tool mode).
    public let recoveryReport: SpoolRecoveryReport

    let paths: SpoolPaths
    let pool: NIOThreadPool
    let logger: Logger
    let queueSyncer: DirectorySyncer
    let failedSyncer: DirectorySyncer
    /// Delivery attempts under way (`attempts.log`), instead of rewriting the metadata at the
    /// start of each attempt.
    let attemptJournal: SpoolAttemptJournal
    /// Files of delivered messages reused by new ones (server mode; empty in tool mode).
    let filePool: SpoolFilePool
    /// Message files made ahead in `queue/` (server mode with ``SpoolConfiguration/slots``).
    let slots: SpoolSlots
    /// Records of queued messages, valid while their metadata file is unchanged (server mode).
    let recordCache: SpoolRecordCache
    /// The open `server.lock` (server mode) until ``close()``; the kernel drops the flock with it.
    private let serverLockFD: NIOLockedValueBox<Int32?>
    private let observers = NIOLockedValueBox<[UUID: @Sendable (SpoolRecord) -> Void]>([:])
    private let isClosed = NIOLockedValueBox(false)

    static let lockStripes = 64

    /// Opens (and creates if needed) the spool at `directory`.
    ///
    /// In server mode this takes the server lock (waiting up to
    /// ``SpoolConfiguration/serverLockWait``; throws ``SpoolError/locked(directory:holder:)`` if
    /// another server still has it) and recovers: temporary files are removed, incomplete messages
    /// discarded, attempts under way when a server died (`attempts.log`) are counted as
    /// ambiguous and their messages are due again.
    public init(
        directory: String,
        mode: Mode = .server,
        configuration: SpoolConfiguration = SpoolConfiguration(),
        logger: Logger = Logger(label: "graph-relay.spool"),
        now: Date = Date()
    ) throws {
        self.directory = directory
        self.mode = mode
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "relay.spool"] = "\(directory)"
        self.logger = logger
        let paths = SpoolPaths(directory: directory)
        self.paths = paths

        for path in [directory, paths.tmp, paths.queue, paths.failed, paths.locks] {
            try Posix.makeDirectory(path)
        }
        var lockFD: Int32?
        if mode == .server {
            let lockPath = directory + "/server.lock"
            let fd = try Posix.open(lockPath, O_RDWR | O_CREAT)
            let locked: Bool
            do {
                locked = try Self.lockServer(fd, path: lockPath, waiting: configuration.serverLockWait, logger: logger)
            } catch {
                Posix.close(fd)
                throw error
            }
            guard locked else {
                let holder = (try? Posix.readFile(lockPath)).flatMap { $0 }.map {
                    "pid " + String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                } ?? "unknown process"
                Posix.close(fd)
                throw SpoolError.locked(directory: directory, holder: holder)
            }
            _ = ftruncate(fd, 0)
            let pidLine = Array("\(getpid())\n".utf8)
            _ = pidLine.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            lockFD = fd
        }
        self.serverLockFD = NIOLockedValueBox(lockFD)
        self.attemptJournal = SpoolAttemptJournal(paths: paths)
        let filePool = SpoolFilePool(
            directory: paths.tmp,
            capacity: mode == .server ? configuration.recycledFiles : 0
        )
        self.filePool = filePool
        let slots = SpoolSlots(capacity: mode == .server ? configuration.slots : 0)
        self.slots = slots
        self.recordCache = SpoolRecordCache(capacity: mode == .server ? 10_000 : 0)

        let pool = NIOThreadPool(numberOfThreads: max(1, configuration.ioThreads))
        pool.start()
        self.pool = pool
        do {
            self.queueSyncer = try DirectorySyncer(
                path: paths.queue,
                pool: pool,
                grouped: configuration.groupCommit,
                maxConcurrent: configuration.concurrentDirectorySyncs,
                faults: configuration.faults
            )
            self.failedSyncer = try DirectorySyncer(
                path: paths.failed,
                pool: pool,
                grouped: configuration.groupCommit,
                maxConcurrent: configuration.concurrentDirectorySyncs,
                faults: configuration.faults
            )
            if mode == .server {
                let (report, spares, foundSlots) = try SpoolRecovery(paths: paths, logger: logger, now: now).run()
                self.recoveryReport = report
                filePool.adopt(spares)
                for id in slots.adopt(foundSlots) {
                    Posix.unlinkIfPresent(paths.message(id, in: .queue))
                }
                Self.preallocate(configuration.preallocatedFiles, into: filePool, on: pool, logger: logger)
            } else {
                self.recoveryReport = SpoolRecoveryReport()
            }
        } catch {
            try? pool.syncShutdownGracefully()
            if let fd = lockFD { Posix.close(fd) }
            throw error
        }
        refillSlots()
    }

    deinit {
        releaseServerLock()
    }

    /// Tops up the slots (``SpoolSlots``) in the background when half or more are used: makes
    /// each from a spare of `tmp/` (renamed) or as a new empty file, then one shared fsync of
    /// `queue/` before any is used. A failure leaves the commits on the `tmp/` path; empty files
    /// it left are taken over by the next recovery.
    func refillSlots() {
        guard let count = slots.beginRefill() else { return }
        let paths = self.paths
        let filePool = self.filePool
        let syncer = self.queueSyncer
        let slots = self.slots
        let logger = self.logger
        Task {
            do {
                let made = try await syncer.sync { () throws -> [QueueID] in
                    var made: [QueueID] = []
                    for _ in 0..<count {
                        let id = QueueID.make()
                        let path = paths.message(id, in: .queue)
                        if let spare = filePool.take() {
                            try Posix.rename(spare, path)
                        } else {
                            Posix.close(try Posix.open(path, O_WRONLY | O_CREAT | O_EXCL))
                        }
                        made.append(id)
                    }
                    return made
                }
                slots.finishRefill(made)
            } catch SpoolError.closed {
                slots.finishRefill([])  // the spool closed meanwhile
            } catch {
                slots.finishRefill([])
                logger.warning("spool: cannot prepare message slots; commits go through tmp/", metadata: ["relay.error": "\(error)"])
            }
        }
    }

    /// Tops the pool of spares up to `target` in the background, 256 files per trip to the I/O
    /// threads, so that closing the spool meanwhile is not held up.
    private static func preallocate(_ target: Int, into filePool: SpoolFilePool, on pool: NIOThreadPool, logger: Logger) {
        let missing = target - filePool.statistics.spares
        guard missing > 0 else { return }
        let started = ContinuousClock.now
        @Sendable func step(_ remaining: Int, _ done: Int) {
            pool.submit { workState in
                guard case .active = workState else { return }
                let batch = min(remaining, 256)
                let created = filePool.preallocate(batch)
                if created == batch, remaining > batch {
                    step(remaining - batch, done + created)
                } else {
                    logger.debug("spool spares created", metadata: [
                        "relay.spares": "\(done + created)", "relay.duration": "\(ContinuousClock.now - started)",
                    ])
                }
            }
        }
        step(missing, 0)
    }

    /// Takes the server lock on `fd`, retrying for up to `wait`. A lock still held is not always
    /// another server: a process forked by this one (or by a server that is stopping) holds a copy
    /// of the lock file's descriptor until it executes its program, and with it the `flock`.
    private static func lockServer(_ fd: Int32, path: String, waiting wait: Duration, logger: Logger) throws(SpoolError) -> Bool {
        if try Posix.tryLockExclusive(fd, path: path) { return true }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        logger.debug("spool lock held; waiting", metadata: ["relay.wait": "\(wait)"])
        while clock.now < deadline {
            usleep(10_000)
            if try Posix.tryLockExclusive(fd, path: path) { return true }
        }
        return false
    }

    /// Closes `server.lock` (once), which releases the flock: another server may open the spool.
    private func releaseServerLock() {
        serverLockFD.withLockedValue { fd in
            if let open = fd { Posix.close(open) }
            fd = nil
        }
    }

    /// Stops the I/O threads (after the work already submitted) and releases the server lock.
    /// Operations after this throw ``SpoolError/closed``.
    public func close() async {
        let wasClosed = isClosed.withLockedValue { closed -> Bool in
            defer { closed = true }
            return closed
        }
        if wasClosed { return }
        try? await pool.shutdownGracefully()
        attemptJournal.close()
        releaseServerLock()
    }

    // MARK: Writing

    /// Starts a new message. Append its bytes as they arrive, then commit or abort.
    ///
    /// `messageId`: the message's `Message-ID` when the caller knows it (the relay has parsed the
    /// header block already); otherwise the writer finds it in the bytes.
    public func makeWriter(now: Date = Date(), messageId: String? = nil) throws -> SpoolWriter {
        if isClosed.withLockedValue({ $0 }) { throw SpoolError.closed }
        let slot = slots.take()
        if slots.capacity > 0 { refillSlots() }
        if let slot { return SpoolWriter(spool: self, id: slot, messageId: messageId, slot: true) }
        return SpoolWriter(spool: self, id: QueueID.make(now: now), messageId: messageId)
    }

    /// Writes a whole message held in memory (used for delivery status notifications).
    @discardableResult
    public func write(_ bytes: ByteBuffer, envelope: SpoolEnvelope) async throws -> SpoolRecord {
        let writer = try makeWriter(now: envelope.receivedAt)
        do {
            try await writer.append(bytes)
            return try await writer.commit(envelope)
        } catch {
            await writer.abort()
            throw error
        }
    }

    /// Registers a closure called (on an I/O thread) with each message committed by this process.
    /// Returns a token for ``removeCommitObserver(_:)``.
    @discardableResult
    public func addCommitObserver(_ observer: @escaping @Sendable (SpoolRecord) -> Void) -> UUID {
        let token = UUID()
        observers.withLockedValue { $0[token] = observer }
        return token
    }

    public func removeCommitObserver(_ token: UUID) {
        observers.withLockedValue { _ = $0.removeValue(forKey: token) }
    }

    func notifyCommitted(_ record: SpoolRecord) {
        let current = observers.withLockedValue { Array($0.values) }
        for observer in current { observer(record) }
    }

    // MARK: Running blocking work

    /// Runs blocking file work on the spool's I/O threads.
    func io<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await runBlocking(on: pool, body)
    }

    func syncer(for area: Area) -> DirectorySyncer {
        area == .queue ? queueSyncer : failedSyncer
    }

    /// Runs `body` holding the lock of message `id` (an flock on one of 64 stripe files, shared
    /// by every process using the spool).
    func withMessageLock<T>(_ id: QueueID, _ body: () throws -> T) throws -> T {
        let path = paths.lockFile(for: id)
        let fd = try Posix.open(path, O_RDWR | O_CREAT)
        defer { Posix.close(fd) }
        try Posix.lockExclusive(fd, path: path)
        return try body()
    }
}

/// File names inside a spool directory.
struct SpoolPaths: Sendable {
    let directory: String
    let tmp: String
    let queue: String
    let failed: String
    let corrupt: String
    let locks: String

    init(directory: String) {
        self.directory = directory
        self.tmp = directory + "/tmp"
        self.queue = directory + "/queue"
        self.failed = directory + "/failed"
        self.corrupt = directory + "/corrupt"
        self.locks = directory + "/locks"
    }

    func area(_ area: Spool.Area) -> String { area == .queue ? queue : failed }
    func message(_ id: QueueID, in area: Spool.Area) -> String { self.area(area) + "/" + id.rawValue + ".eml" }
    func metadata(_ id: QueueID, in area: Spool.Area) -> String { self.area(area) + "/" + id.rawValue + ".json" }
    func temporaryMessage(_ id: QueueID) -> String { tmp + "/" + id.rawValue + ".eml" }
    func metadataUpdate(_ id: QueueID) -> String { tmp + "/" + id.rawValue + ".update.json" }
    /// The journal of delivery attempts under way (``SpoolAttemptJournal``).
    var attemptJournal: String { directory + "/attempts.log" }

    /// The stripe lock file of a message: FNV-1a of the id (stable across processes) mod 64.
    func lockFile(for id: QueueID) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in id.rawValue.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        let stripe = Int(hash % UInt32(Spool.lockStripes))
        return locks + "/" + (stripe < 10 ? "0" : "") + String(stripe) + ".lock"
    }
}
