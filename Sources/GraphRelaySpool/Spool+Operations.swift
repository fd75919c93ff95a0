import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// How a delivery attempt ended, as recorded in the spool.
public enum SpoolAttemptResult: Sendable, Equatable {
    /// Not delivered yet: back to `queued`, next attempt not before `nextAttemptAt`.
    /// `transientFailure` counts towards the backoff; `ambiguous` counts an attempt whose outcome
    /// was unknown (Graph may have stored the message).
    case deferred(nextAttemptAt: Date, error: String, requestId: String?, transientFailure: Bool, ambiguous: Bool)
    /// Delivered: the message is removed from the spool.
    case delivered(requestId: String?)
    /// Given up: moved to `failed/` with the reason, its enhanced status (`5.1.1`, `4.4.7`, …)
    /// and the delivery status notification queued for it (or why none was).
    case failed(reason: String, status: String, requestId: String?, bounceId: QueueID?, bounceSuppressed: String?)
    /// The attempt never completed (shutdown): back to `queued`, due now, counted as an ambiguous
    /// attempt (the request may have reached Graph).
    case released
}

extension Spool {
    // MARK: Reading

    /// The messages in `area`, oldest first. Files that cannot be read are logged and skipped;
    /// incomplete messages (being written or deleted) are not listed.
    public func list(_ area: Area = .queue) async throws -> [SpoolRecord] {
        let paths = self.paths
        let logger = self.logger
        return try await io { () throws -> [SpoolRecord] in
            try Self.listSync(area, paths: paths, logger: logger)
        }
    }

    /// How many messages `area` holds, from the directory's names (no file is read): for
    /// metrics, where listing thousands of failed messages at every scrape would cost too much.
    /// In `queue/` a message file without metadata file is looked at: an empty one is a slot
    /// (``SpoolSlots``), not a message (one being written into a slot counts from its first
    /// bytes on, a moment before its 250).
    public func count(_ area: Area) async throws -> Int {
        let paths = self.paths
        return try await io { () throws -> Int in
            let names = try Posix.list(paths.area(area))
            let withMetadata = Set(names.compactMap { name -> QueueID? in
                guard let (id, kind) = SpoolRecovery.parse(name), kind == "json" else { return nil }
                return id
            })
            return try names.reduce(0) { count, name in
                guard let (id, kind) = SpoolRecovery.parse(name), kind == "eml" else { return count }
                if area == .queue, !withMetadata.contains(id), try SpoolSlots.isSlot(id, paths: paths) { return count }
                return count + 1
            }
        }
    }

    static func listSync(_ area: Area, paths: SpoolPaths, logger: Logger) throws -> [SpoolRecord] {
        let names = try Posix.list(paths.area(area))
        // By either file: a format-2 message has no metadata file until its metadata changes.
        let ids = Set(names.compactMap { name -> QueueID? in SpoolRecovery.parse(name)?.0 })
        // Attempts under way show as `delivering` (they are not in the metadata files).
        let attempts = area == .queue ? ((try? SpoolAttemptJournal.read(paths.attemptJournal)) ?? [:]) : [:]
        var records: [SpoolRecord] = []
        for id in ids.sorted() {
            do {
                if let record = try SpoolFiles.readRecord(id, in: area, paths: paths) {
                    records.append(SpoolAttemptJournal.overlay(record, attempts))
                }
            } catch {
                logger.warning("spool: cannot read message metadata", metadata: ["relay.queue-id": "\(id)", "relay.error": "\(error)"])
            }
        }
        return records
    }

    /// A message by id, looked up in the queue, then in `failed/`. Throws
    /// ``SpoolError/notFound(_:)`` if it is in neither.
    public func message(_ id: QueueID) async throws -> SpooledMessage {
        let paths = self.paths
        let (record, area) = try await io { () throws -> (SpoolRecord, Area) in
            for area in Area.allCases {
                if let record = try SpoolFiles.readRecord(id, in: area, paths: paths) {
                    guard area == .queue, let attempts = try? SpoolAttemptJournal.read(paths.attemptJournal) else { return (record, area) }
                    return (SpoolAttemptJournal.overlay(record, attempts), area)
                }
            }
            throw SpoolError.notFound(id)
        }
        return makeMessage(record, area: area)
    }

    func makeMessage(_ record: SpoolRecord, area: Area) -> SpooledMessage {
        SpooledMessage(record: record, area: area, path: paths.message(record.id, in: area), pool: pool, configuration: configuration)
    }

    // MARK: Delivery bookkeeping (the server)

    /// Starts a delivery attempt of a queued message: returns it `delivering`, with the attempt
    /// counted. The metadata file is not rewritten: the attempt is appended to `attempts.log`
    /// (``SpoolAttemptJournal``), and its result, recorded by ``recordAttempt(_:_:now:)``,
    /// counts it on disk. Throws ``SpoolError/notFound(_:)`` if it was deleted meanwhile.
    public func beginDelivery(_ id: QueueID, now: Date = Date()) async throws -> SpooledMessage {
        let paths = self.paths
        let journal = self.attemptJournal
        let preloadLimit = Int64(configuration.deliveryPreloadSize)
        let (record, contents) = try await io { [self] () throws -> (SpoolRecord, ByteBuffer?) in
            try self.withMessageLock(id) {
                guard var record = try self.queuedRecord(id) else { throw SpoolError.notFound(id) }
                record.state = .delivering
                record.attempts += 1
                record.lastAttemptAt = SpoolJSON.stored(now)
                // A small message is read here, on this trip to the I/O threads, rather than
                // chunk by chunk later (and before the attempt is journalled: a damaged file
                // starts no attempt).
                let contents = record.size <= preloadLimit ? try Self.readWhole(paths.message(id, in: .queue), size: record.size) : nil
                try journal.begin(id, SpoolAttemptJournal.Entry(attempt: record.attempts, startedAt: now))
                return (record, contents)
            }
        }
        var message = makeMessage(record, area: .queue)
        message.contents = contents
        return message
    }

    /// A queued message's record: from the cache while its metadata file is unchanged, else read
    /// (and cached). Nil when the message is not (or no longer) in the queue. Call it holding the
    /// message's lock.
    func queuedRecord(_ id: QueueID) throws -> SpoolRecord? {
        let metadataPath = paths.metadata(id, in: .queue)
        if Posix.exists(paths.message(id, in: .queue)), let cached = recordCache.record(id, metadataPath: metadataPath) {
            return cached
        }
        guard let record = try SpoolFiles.readRecord(id, in: .queue, paths: paths) else { return nil }
        recordCache.remember(record, metadataPath: metadataPath)
        return record
    }

    /// The message's `size` bytes (else ``SpoolError/corrupt(path:reason:)``: the file is shorter).
    static func readWhole(_ path: String, size: Int64) throws -> ByteBuffer {
        let reader = try SpoolMessageReader(path: path, expectedSize: size)
        defer { reader.close() }
        var buffer = ByteBufferAllocator().buffer(capacity: Int(size))
        while let chunk = try reader.read(maxLength: max(Int(size) - buffer.readableBytes, 1)) {
            buffer.writeImmutableBuffer(chunk)
        }
        return buffer
    }

    /// Records how an attempt ended. Returns the updated record (nil once delivered and removed).
    /// Throws ``SpoolError/notFound(_:)`` if the message was deleted meanwhile.
    @discardableResult
    public func recordAttempt(_ id: QueueID, _ result: SpoolAttemptResult, now: Date = Date()) async throws -> SpoolRecord? {
        let paths = self.paths
        let faults = configuration.faults
        let journal = self.attemptJournal
        if case .delivered = result {
            try await removeDelivered(id)
            return nil
        }
        let work = { @Sendable [self] () throws -> SpoolRecord? in
            try self.withMessageLock(id) { () throws -> SpoolRecord? in
                // The attempt started by beginDelivery is counted on disk only now.
                let attempt = journal.finish(id)
                guard var record = try self.queuedRecord(id) else { throw SpoolError.notFound(id) }
                if let attempt, attempt.attempt > record.attempts {
                    record.attempts = attempt.attempt
                    record.lastAttemptAt = SpoolJSON.stored(attempt.startedAt)
                }
                switch result {
                case .deferred(let next, let error, let requestId, let transient, let ambiguous):
                    record.state = .queued
                    record.nextAttemptAt = next
                    record.lastError = error
                    if let requestId { record.lastRequestId = requestId }
                    if transient { record.transientFailures += 1 }
                    if ambiguous { record.ambiguousAttempts += 1 }
                    try SpoolFiles.replaceMetadata(record, in: .queue, paths: paths, faults: faults)
                    recordCache.remember(record, metadataPath: paths.metadata(id, in: .queue))
                    return record
                case .released:
                    record.state = .queued
                    record.nextAttemptAt = now
                    // Cut short while Graph may already have had the request (docs/spool.md).
                    record.ambiguousAttempts += 1
                    try SpoolFiles.replaceMetadata(record, in: .queue, paths: paths, faults: faults)
                    recordCache.remember(record, metadataPath: paths.metadata(id, in: .queue))
                    return record
                case .delivered:
                    return nil  // handled above
                case .failed(let reason, let status, let requestId, let bounceId, let bounceSuppressed):
                    record.state = .failed
                    record.failedAt = now
                    record.failureReason = reason
                    record.failureStatus = status
                    record.lastError = reason
                    if let requestId { record.lastRequestId = requestId }
                    record.bounceId = bounceId
                    record.bounceSuppressed = bounceSuppressed
                    recordCache.forget(id)
                    try Self.move(record, from: .queue, to: .failed, paths: paths, faults: faults)
                    return record
                }
            }
        }
        // The file work and the directory fsync it needs in one trip to the I/O threads.
        guard case .failed = result else { return try await io(work) }
        let record = try await failedSyncer.sync(after: work)
        try await queueSyncer.sync()
        return record
    }

    /// Records the draft an attempt of a queued message is building (nil: none any more): the
    /// metadata is rewritten and fsynced, and the directory too, before this returns, so the
    /// draft's id survives a crash or a power cut. Throws ``SpoolError/notFound(_:)`` if the
    /// message was deleted meanwhile.
    public func recordDraft(_ id: QueueID, _ draft: SpoolDraft?) async throws {
        let paths = self.paths
        let faults = configuration.faults
        try await queueSyncer.sync { [self] () throws in
            try self.withMessageLock(id) { () throws in
                guard var record = try self.queuedRecord(id) else { throw SpoolError.notFound(id) }
                record.draft = draft
                try SpoolFiles.replaceMetadata(record, in: .queue, paths: paths, faults: faults)
                recordCache.remember(record, metadataPath: paths.metadata(id, in: .queue))
            }
        }
    }

    /// A delivered message leaves the queue: its files become spares (``SpoolFilePool``) — the
    /// message file first: a lone `.json` is no message, while a lone `.eml` of format 2 is a
    /// whole one — or are deleted when the pool is full; then `queue/` is fsynced, and only then
    /// may new messages overwrite the spares.
    private func removeDelivered(_ id: QueueID) async throws {
        let paths = self.paths
        let journal = self.attemptJournal
        let recycled = NIOLockedValueBox<[String]>([])
        do {
            try await queueSyncer.sync { [self] () throws in
                try self.withMessageLock(id) { () throws in
                    _ = journal.finish(id)
                    let metadataPath = paths.metadata(id, in: .queue)
                    let messagePath = paths.message(id, in: .queue)
                    guard try Posix.fileSize(messagePath) != nil else { throw SpoolError.notFound(id) }
                    recordCache.forget(id)
                    if let spare = try filePool.recycle(messagePath, spareName: id.rawValue + ".eml") {
                        recycled.withLockedValue { $0.append(spare) }
                    }
                    if Posix.exists(metadataPath), let spare = try filePool.recycle(metadataPath, spareName: id.rawValue + ".json") {
                        recycled.withLockedValue { $0.append(spare) }
                    }
                }
            }
        } catch {
            filePool.abandon(recycled.withLockedValue { $0 })
            throw error
        }
        filePool.publish(recycled.withLockedValue { $0 })
    }

    /// Moves a message between areas, crash-safely: the new `.json` first (a lone half, ignored),
    /// then the `.eml` (now complete in the new area), then the old `.json` goes (if it had one).
    static func move(_ record: SpoolRecord, from: Area, to: Area, paths: SpoolPaths, faults: SpoolFaultInjector?) throws {
        let id = record.id
        try SpoolFiles.replaceMetadata(record, in: to, paths: paths, faults: faults)
        do {
            try faults.check(.renameMessage, paths.message(id, in: from))
            try Posix.rename(paths.message(id, in: from), paths.message(id, in: to))
        } catch {
            Posix.unlinkIfPresent(paths.metadata(id, in: to))
            throw error
        }
        Posix.unlinkIfPresent(paths.metadata(id, in: from))
    }

    // MARK: Queue tooling (safe while a server runs)

    /// Makes a message due now. A queued message keeps its history; a failed one is taken back
    /// into the queue with a fresh lifetime and backoff. Returns the updated record.
    @discardableResult
    public func retry(_ id: QueueID, now: Date = Date()) async throws -> SpoolRecord {
        let paths = self.paths
        let faults = configuration.faults
        let (record, moved) = try await io { [self] () throws -> (SpoolRecord, Bool) in
            try self.withMessageLock(id) { () throws -> (SpoolRecord, Bool) in
                if var record = try SpoolFiles.readRecord(id, in: .queue, paths: paths) {
                    record.nextAttemptAt = now
                    try SpoolFiles.replaceMetadata(record, in: .queue, paths: paths, faults: faults)
                    return (record, false)
                }
                guard var record = try SpoolFiles.readRecord(id, in: .failed, paths: paths) else { throw SpoolError.notFound(id) }
                record.state = .queued
                record.nextAttemptAt = now
                record.lifetimeStartedAt = now
                record.transientFailures = 0
                record.failedAt = nil
                record.failureReason = nil
                record.failureStatus = nil
                record.bounceId = nil
                record.bounceSuppressed = nil
                try Self.move(record, from: .failed, to: .queue, paths: paths, faults: faults)
                return (record, true)
            }
        }
        if moved {
            try await queueSyncer.sync()
            try await failedSyncer.sync()
        }
        try await touchKick()
        return record
    }

    /// Makes every queued message due now. Returns how many.
    @discardableResult
    public func retryAll(now: Date = Date()) async throws -> Int {
        var count = 0
        for record in try await list(.queue) {
            do {
                try await retry(record.id, now: now)
                count += 1
            } catch SpoolError.notFound {
                continue  // delivered or deleted meanwhile
            }
        }
        return count
    }

    /// Deletes a message (queued or failed) for good. A delivery under way finishes, but its
    /// result is not recorded.
    public func delete(_ id: QueueID) async throws {
        let paths = self.paths
        let area = try await io { [self] () throws -> Area in
            try self.withMessageLock(id) { () throws -> Area in
                for area in Area.allCases where try SpoolFiles.readRecord(id, in: area, paths: paths) != nil {
                    self.recordCache.forget(id)
                    // The message file first (see removeDelivered); a format-2 message may have no
                    // metadata file.
                    try Posix.unlink(paths.message(id, in: area))
                    Posix.unlinkIfPresent(paths.metadata(id, in: area))
                    return area
                }
                throw SpoolError.notFound(id)
            }
        }
        try await syncer(for: area).sync()
        try await touchKick()
        logger.notice("message deleted from the spool", metadata: ["relay.queue-id": "\(id)", "relay.area": "\(area.rawValue)"])
    }

    // MARK: Change notification between processes

    /// Tells a running server that queue tooling changed something (it rescans at once instead of
    /// at its next periodic rescan): rewrites `<directory>/kick`.
    public func touchKick() async throws {
        let path = directory + "/kick"
        try await io { () throws in
            let fd = try Posix.open(path, O_WRONLY | O_CREAT | O_TRUNC)
            defer { Posix.close(fd) }
            try Posix.writeAll(fd, Array("\(Date().timeIntervalSince1970)\n".utf8), path: path)
        }
    }

    /// A stamp that changes whenever ``touchKick()`` runs (nil before the first).
    package func kickStamp() -> Posix.FileIdentity? {
        Posix.FileIdentity(path: directory + "/kick")
    }
}
