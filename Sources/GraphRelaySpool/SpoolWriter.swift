import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Writes one new message into the spool: ``append(_:)`` its bytes as they arrive, then
/// ``commit(_:)`` (only after it returns may the SMTP side answer 250) or ``abort()``.
///
/// Bytes are collected in memory up to ``SpoolConfiguration/writeBufferSize`` and then written on
/// the I/O threads while the client keeps sending; `append` suspends only when more than
/// ``SpoolConfiguration/maxPendingWriteBytes`` wait for the disk. They go into a slot,
/// `queue/<id>.eml` made ahead with a durable directory entry (``SpoolSlots``), when one is ready;
/// else into a file in `tmp/` (a spare from ``SpoolFilePool``, overwritten from the start, or a
/// new `tmp/<id>.eml`). Commit writes the rest and the metadata after it (``SpoolTrailer``, with
/// the bytes' CRC-32C), cuts the file to that size and fdatasyncs it — the message's one file
/// sync. In a slot that is all: the message exists. From `tmp/` it is renamed to
/// `queue/<id>.eml` and waits for a (shared) fsync of `queue/`. No `<id>.json` is written: the
/// trailer is the metadata until the first update. Any failure throws a ``SpoolError`` and
/// removes every file of the message. A writer dropped without commit or abort removes its file.
///
/// Call `append`/`commit`/`abort` in order from one task (or one event loop): they are not meant
/// to race each other, though the writer stays consistent if they do.
public final class SpoolWriter: @unchecked Sendable {
    /// The queue id, known from the start (for `queued as <id>` and logs).
    public let id: QueueID

    private enum Phase {
        case open
        case finishing
        case committed
        case aborted
    }

    private struct State {
        var phase: Phase = .open
        var pending: [ByteBuffer] = []
        var pendingBytes = 0
        var flushing = false
        var fd: Int32 = -1
        var written: Int64 = 0
        var size: Int64 = 0
        var error: SpoolError?
        var probe: [UInt8] = []
        /// Of the bytes written so far (only the flushing thread updates it).
        var checksum = CRC32C()
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let spool: Spool
    private let state = NIOLockedValueBox(State())
    /// The file the bytes go to: the slot `queue/<id>.eml`, a spare in `tmp/` being reused, or
    /// `tmp/<id>.eml`.
    private let temporaryPath: String
    /// Whether `temporaryPath` exists already (a slot, or a spare that may hold an old message's bytes).
    private let reusesSpare: Bool
    /// Whether `temporaryPath` is a slot: the message exists once the file is synced.
    private let inSlot: Bool
    private static let probeLimit = 64 * 1024

    /// The Message-ID given by the creator; nil: found in the first bytes (`probe`).
    private let knownMessageId: String?

    /// `slot`: write into the slot `queue/<id>.eml`; else into `tmp/`.
    init(spool: Spool, id: QueueID, messageId: String? = nil, slot: Bool = false) {
        self.spool = spool
        self.id = id
        self.knownMessageId = messageId
        self.inSlot = slot
        if slot {
            self.temporaryPath = spool.paths.message(id, in: .queue)
            self.reusesSpare = true
        } else if let spare = spool.filePool.take() {
            self.temporaryPath = spare
            self.reusesSpare = true
        } else {
            self.temporaryPath = spool.paths.temporaryMessage(id)
            self.reusesSpare = false
        }
    }

    deinit {
        // Dropped without commit or abort: nothing of it may stay behind.
        let (fd, phase) = state.withLockedValue { ($0.fd, $0.phase) }
        if fd >= 0 { Posix.close(fd) }
        if phase != .committed {
            Posix.unlinkIfPresent(temporaryPath)
        }
    }

    /// Bytes appended so far.
    public var size: Int64 { state.withLockedValue { $0.size } }

    /// Appends the next chunk of the message.
    public func append(_ chunk: ByteBuffer) async throws {
        let (startFlush, mustWait) = try state.withLockedValue { state throws -> (Bool, Bool) in
            if let error = state.error { throw error }
            guard state.phase == .open else { throw SpoolError.writerFinished(id) }
            guard chunk.readableBytes > 0 else { return (false, false) }
            state.pending.append(chunk)
            state.pendingBytes += chunk.readableBytes
            state.size += Int64(chunk.readableBytes)
            if knownMessageId == nil && state.probe.count < Self.probeLimit {
                let take = min(Self.probeLimit - state.probe.count, chunk.readableBytes)
                state.probe += chunk.getBytes(at: chunk.readerIndex, length: take) ?? []
            }
            var start = false
            if state.pendingBytes >= spool.configuration.writeBufferSize && !state.flushing {
                state.flushing = true
                start = true
            }
            return (start, state.pendingBytes > spool.configuration.maxPendingWriteBytes)
        }
        if startFlush { startFlushing() }
        if mustWait {
            // Back-pressure: wait until the disk has caught up.
            while true {
                let needsWait = state.withLockedValue { $0.pendingBytes > spool.configuration.maxPendingWriteBytes && $0.flushing && $0.error == nil }
                if !needsWait { break }
                await waitForFlushProgress()
            }
            if let error = state.withLockedValue({ $0.error }) { throw error }
        }
    }

    /// Makes the message durable and visible in the queue. Returns its metadata.
    ///
    /// Throws a ``SpoolError`` (answer `451 4.3.0`) if anything fails; then nothing of the message
    /// remains.
    @discardableResult
    public func commit(_ envelope: SpoolEnvelope) async throws -> SpoolRecord {
        let writerID = self.id
        try state.withLockedValue { state throws in
            guard state.phase == .open else { throw SpoolError.writerFinished(writerID) }
            state.phase = .finishing
        }
        await waitUntilFlushIdle()
        let spool = self.spool
        let id = self.id
        do {
            // In a slot, the file's sync is all; else the file work and the shared fsync of
            // queue/ in one trip to the I/O threads.
            let record = try await inSlot
                ? spool.io { [self] () throws -> SpoolRecord in try self.finishFile(envelope: envelope) }
                : spool.queueSyncer.sync { [self] () throws -> SpoolRecord in try self.finishFile(envelope: envelope) }
            state.withLockedValue { $0.phase = .committed }
            spool.logger.debug("message spooled", metadata: ["relay.queue-id": "\(id)", "relay.size": "\(record.size)"])
            spool.notifyCommitted(record)
            return record
        } catch {
            state.withLockedValue { $0.phase = .aborted }
            spool.recordCache.forget(id)
            // Whatever step failed, nothing of the message may stay: not durable means the client
            // gets 451 and sends it again. (The paths are this message's own: its id is unique.)
            try? await spool.io { [temporaryPath] () throws in
                Posix.unlinkIfPresent(temporaryPath)
                Posix.unlinkIfPresent(spool.paths.message(id, in: .queue))
            }
            spool.logger.warning("message could not be spooled", metadata: ["relay.queue-id": "\(id)", "relay.error": "\(error)"])
            throw error
        }
    }

    /// Discards the message and its temporary file. Safe to call more than once.
    public func abort() async {
        let alreadyDone = state.withLockedValue { state -> Bool in
            if state.phase == .committed || state.phase == .aborted { return true }
            state.phase = .aborted
            return false
        }
        if alreadyDone { return }
        await waitUntilFlushIdle()
        let fd = state.withLockedValue { state -> Int32 in
            defer { state.fd = -1 }
            state.pending = []
            state.pendingBytes = 0
            return state.fd
        }
        let path = temporaryPath
        do {
            try await spool.io { () throws in
                if fd >= 0 { Posix.close(fd) }
                Posix.unlinkIfPresent(path)
            }
        } catch {
            if fd >= 0 { Posix.close(fd) }
            Posix.unlinkIfPresent(path)
        }
    }

    // MARK: Flushing

    private func startFlushing() {
        spool.pool.submit { [self] workState in
            guard case .active = workState else {
                self.state.withLockedValue { state in
                    state.error = state.error ?? SpoolError.closed
                    state.flushing = false
                }
                self.resumeWaiters()
                return
            }
            self.flushLoop()
        }
    }

    /// Runs on an I/O thread: writes whatever is pending until nothing is.
    private func flushLoop() {
        while true {
            let (batch, fd, stop) = state.withLockedValue { state -> ([ByteBuffer], Int32, Bool) in
                if state.pending.isEmpty || state.phase == .aborted || state.error != nil {
                    state.flushing = false
                    return ([], -1, true)
                }
                let batch = state.pending
                state.pending = []
                return (batch, state.fd, false)
            }
            if stop {
                resumeWaiters()
                return
            }
            do {
                let fd = try fd >= 0 ? fd : openTemporaryFile()
                let bytes = try write(batch, to: fd)
                state.withLockedValue {
                    $0.pendingBytes -= bytes
                    $0.written += Int64(bytes)
                }
            } catch {
                state.withLockedValue {
                    $0.error = error as? SpoolError ?? .io(operation: "write", path: temporaryPath, errno: EIO)
                    $0.flushing = false
                }
                resumeWaiters()
                return
            }
            resumeWaiters()
        }
    }

    private func openTemporaryFile() throws -> Int32 {
        // A spare is overwritten from offset 0 (and cut to size at commit) — or created, should
        // someone have removed it from tmp/; a new file must be new. A slot must exist: a file
        // created now in queue/ would not have a durable directory entry.
        let flags = inSlot ? O_WRONLY : reusesSpare ? O_WRONLY | O_CREAT : O_WRONLY | O_CREAT | O_EXCL
        let fd = try Posix.open(temporaryPath, flags)
        state.withLockedValue { $0.fd = fd }
        return fd
    }

    /// Writes `batch` and adds it to the checksum (one flush or the commit at a time).
    private func write(_ batch: [ByteBuffer], to fd: Int32) throws -> Int {
        var total = 0
        var checksum = state.withLockedValue { $0.checksum }
        for buffer in batch {
            try spool.configuration.faults.check(.writeMessage, temporaryPath)
            try Posix.writeAll(fd, buffer, path: temporaryPath)
            checksum.update(buffer)
            total += buffer.readableBytes
        }
        state.withLockedValue { $0.checksum = checksum }
        return total
    }

    /// Runs on an I/O thread at commit: the rest of the bytes, fsync, metadata, renames.
    private func finishFile(envelope: SpoolEnvelope) throws -> SpoolRecord {
        let (batch, existingFD, size, probe, error) = state.withLockedValue { state in
            defer {
                state.pending = []
                state.pendingBytes = 0
            }
            return (state.pending, state.fd, state.size, state.probe, state.error)
        }
        if let error { throw error }
        let paths = spool.paths
        let faults = spool.configuration.faults
        let fd = try existingFD >= 0 ? existingFD : openTemporaryFile()
        let record: SpoolRecord
        do {
            _ = try write(batch, to: fd)
            record = SpoolRecord(id: id, envelope: envelope, size: size, messageId: knownMessageId ?? MessageHeaders(probe).value(of: "Message-ID"),
                                 checksum: state.withLockedValue { $0.checksum.value })
            let json = try SpoolJSON.encode(record)
            // The metadata after the message, so that one fdatasync makes both durable.
            let trailer = json + SpoolTrailer.footer(jsonLength: json.count)
            try faults.check(.writeMetadata, temporaryPath)
            try Posix.writeAll(fd, trailer, path: temporaryPath)
            if reusesSpare {
                try Posix.truncate(fd, to: size + Int64(trailer.count), path: temporaryPath)
            }
            try faults.check(.syncMessage, temporaryPath)
            try Posix.fdatasync(fd, path: temporaryPath)
        } catch {
            state.withLockedValue { $0.fd = -1 }
            Posix.close(fd)
            throw error
        }
        state.withLockedValue { $0.fd = -1 }
        Posix.close(fd)
        if inSlot {
            spool.recordCache.remember(record, metadataPath: paths.metadata(id, in: .queue))
            return record
        }

        // Renaming the file in is what makes the message exist. There is no metadata file yet:
        // the trailer is the metadata until the first update writes `<id>.json`.
        do {
            try faults.check(.renameMessage, temporaryPath)
            try Posix.rename(temporaryPath, paths.message(id, in: .queue))
        } catch {
            Posix.unlinkIfPresent(paths.message(id, in: .queue))
            throw error
        }
        spool.recordCache.remember(record, metadataPath: paths.metadata(id, in: .queue))
        return record
    }

    // MARK: Waiting

    private func waitForFlushProgress() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLockedValue { state -> Bool in
                if !state.flushing || state.error != nil { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func waitUntilFlushIdle() async {
        while state.withLockedValue({ $0.flushing }) {
            await waitForFlushProgress()
        }
    }

    private func resumeWaiters() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
