import Foundation
import Logging
import NIOCore

/// What recovery did when a server opened the spool.
public struct SpoolRecoveryReport: Sendable, Equatable {
    /// Files of interrupted writes removed from `tmp/`.
    public var removedTemporaryFiles: Int = 0
    /// Lone halves (a `.json` without its `.eml`, or a format-1 `.eml` without its `.json`) of
    /// messages never committed, or interrupted while being deleted or moved, removed.
    public var removedIncompleteFiles: Int = 0
    /// Messages being delivered when the previous server died (an attempt in `attempts.log`
    /// without its result, or — older spools — metadata left `delivering`); due again now.
    public var requeued: [QueueID] = []
    /// Messages whose files were damaged, moved to `corrupt/`.
    public var corrupt: [QueueID] = []
    /// Messages found in the queue after recovery.
    public var queued: Int = 0

    public init() {}
}

/// Crash recovery, run when a server opens the spool (holding the server lock).
struct SpoolRecovery {
    let paths: SpoolPaths
    let logger: Logger
    let now: Date

    /// Recovers the spool; returns the report, the names of the spares found in `tmp/` (files
    /// kept for reuse, ``SpoolFilePool``) and the ids of the slots found in `queue/` (empty
    /// message files made ahead, ``SpoolSlots``), neither of which are interrupted writes.
    func run() throws -> (report: SpoolRecoveryReport, spares: [String], slots: [QueueID]) {
        var report = SpoolRecoveryReport()
        var spares: [String] = []
        var slots: [QueueID] = []
        let attemptsUnderWay = try SpoolAttemptJournal.read(paths.attemptJournal)
        for name in try Posix.list(paths.tmp) {
            if SpoolFilePool.isSpare(name) {
                spares.append(name)
                continue
            }
            try Posix.unlink(paths.tmp + "/" + name)
            report.removedTemporaryFiles += 1
        }
        for area in Spool.Area.allCases {
            let directory = paths.area(area)
            var files: [QueueID: (eml: Bool, json: Bool)] = [:]
            for name in try Posix.list(directory) {
                guard let (id, kind) = SpoolRecovery.parse(name) else {
                    logger.warning("spool recovery: ignoring unknown file", metadata: ["relay.file": "\(directory)/\(name)"])
                    continue
                }
                var entry = files[id] ?? (false, false)
                if kind == "eml" { entry.eml = true } else { entry.json = true }
                files[id] = entry
            }
            for (id, entry) in files.sorted(by: { $0.key < $1.key }) {
                // A message file alone is a message when it carries its metadata (format 2);
                // a metadata file alone never is.
                var complete = entry.eml && entry.json
                if area == .queue, entry.eml, !entry.json, try SpoolSlots.isSlot(id, paths: paths) {
                    slots.append(id)
                    continue
                }
                if entry.eml, !entry.json {
                    complete = try SpoolFiles.trailerRecord(id, in: area, paths: paths) != nil
                    if !complete, try SpoolTrailer.hasDamagedFooter(paths.message(id, in: area)) {
                        try moveAside(id, area: area, reason: "its metadata trailer is damaged")
                        report.corrupt.append(id)
                        continue
                    }
                }
                if !complete {
                    let path = SpoolFiles.path(paths, id, area, eml: entry.eml)
                    try Posix.unlink(path)
                    report.removedIncompleteFiles += 1
                    logger.notice("spool recovery: removed incomplete message file", metadata: ["relay.file": "\(path)"])
                    continue
                }
                do {
                    try recover(id, in: area, attempt: attemptsUnderWay[id], report: &report)
                } catch let error as SpoolError {
                    if case .corrupt(_, let reason) = error {
                        try moveAside(id, area: area, reason: reason)
                        report.corrupt.append(id)
                    } else {
                        throw error
                    }
                }
            }
        }
        for directory in [paths.tmp, paths.queue, paths.failed] {
            let fd = try Posix.openDirectory(directory)
            defer { Posix.close(fd) }
            try Posix.fsync(fd, path: directory)
        }
        // Every interrupted attempt is now counted in its message's metadata (durably: the
        // directories were just fsynced), so the journal starts afresh. Should this unlink be
        // lost, the next recovery finds those attempts already counted and changes nothing.
        try Posix.unlink(paths.attemptJournal)
        if !report.requeued.isEmpty || report.removedTemporaryFiles > 0 || report.removedIncompleteFiles > 0 || !report.corrupt.isEmpty {
            logger.notice(
                "spool recovered",
                metadata: [
                    "relay.requeued": "\(report.requeued.count)",
                    "relay.removed-temporary": "\(report.removedTemporaryFiles)",
                    "relay.removed-incomplete": "\(report.removedIncompleteFiles)",
                    "relay.corrupt": "\(report.corrupt.count)",
                ]
            )
        }
        return (report, spares, slots)
    }

    private func recover(_ id: QueueID, in area: Spool.Area, attempt: SpoolAttemptJournal.Entry?, report: inout SpoolRecoveryReport) throws {
        let emlPath = paths.message(id, in: area)
        guard let fileSize = try Posix.fileSize(emlPath) else { return }
        let trailer = try SpoolFiles.trailerRecord(id, in: area, paths: paths)
        let hasMetadataFile = Posix.exists(paths.metadata(id, in: area))
        guard var record = try hasMetadataFile ? SpoolFiles.readMetadata(id, in: area, paths: paths) : trailer else { return }
        if record.version >= SpoolTrailer.version {
            guard let trailer, trailer.size == record.size else {
                throw SpoolError.corrupt(path: emlPath, reason: "no metadata after its \(record.size) bytes (\(fileSize) bytes in the file)")
            }
        } else if fileSize != record.size {
            throw SpoolError.corrupt(path: emlPath, reason: "\(fileSize) bytes instead of \(record.size)")
        }
        guard area == .queue else { return }
        if !hasMetadataFile, let checksum = record.checksum {
            // Written into a slot, the file was in the queue before its bytes were synced: a
            // commit cut short by a power loss can leave a complete-looking trailer over bytes
            // that never reached the disk. (Never answered 250; a message updated since has a
            // metadata file and was complete.)
            let actual = try Self.checksum(of: emlPath, size: record.size)
            guard actual == checksum else {
                throw SpoolError.corrupt(path: emlPath, reason: "its bytes do not match their checksum (written when the server stopped?)")
            }
        }
        report.queued += 1
        // An attempt started (journal) whose result was never recorded, or metadata left
        // `delivering` by a server before the journal existed.
        let interrupted = attempt.map { $0.attempt > record.attempts } ?? false
        if interrupted || record.state != .queued {
            // A delivery was under way when the previous server died: Graph may have stored
            // the message. Retry it (at-least-once, same Message-ID) and count it as ambiguous.
            if let attempt, interrupted {
                record.attempts = attempt.attempt
                record.lastAttemptAt = SpoolJSON.stored(attempt.startedAt)
            }
            record.state = .queued
            record.ambiguousAttempts += 1
            record.lastError = "interrupted: the server stopped during delivery (outcome unknown; retried)"
            record.nextAttemptAt = now
            try SpoolFiles.replaceMetadata(record, in: .queue, paths: paths, faults: nil)
            report.requeued.append(id)
            logger.warning(
                "spool recovery: message was being delivered when the server stopped; it will be retried (possible duplicate)",
                metadata: ["relay.queue-id": "\(id)"]
            )
        }
    }

    /// CRC-32C of the first `size` bytes of the file at `path`.
    static func checksum(of path: String, size: Int64) throws(SpoolError) -> UInt32 {
        let fd = try Posix.open(path, O_RDONLY)
        defer { Posix.close(fd) }
        var crc = CRC32C()
        var buffer = ByteBuffer()
        var offset: Int64 = 0
        while offset < size {
            buffer.clear()
            let got = try Posix.pread(fd, into: &buffer, count: Int(min(size - offset, 1 << 20)), offset: Int(offset), path: path)
            if got == 0 { break }
            crc.update(buffer)
            offset += Int64(got)
        }
        return crc.value
    }

    private func moveAside(_ id: QueueID, area: Spool.Area, reason: String) throws {
        try Posix.makeDirectory(paths.corrupt)
        for eml in [true, false] {
            let from = SpoolFiles.path(paths, id, area, eml: eml)
            let to = paths.corrupt + "/" + id.rawValue + (eml ? ".eml" : ".json")
            if Posix.exists(from) { try Posix.rename(from, to) }
        }
        logger.error(
            "spool recovery: damaged message moved to corrupt/",
            metadata: ["relay.queue-id": "\(id)", "relay.reason": "\(reason)"]
        )
    }

    /// `<id>.eml` / `<id>.json` → (id, "eml"/"json").
    static func parse(_ name: String) -> (QueueID, String)? {
        for kind in ["eml", "json"] where name.hasSuffix("." + kind) {
            if let id = QueueID(String(name.dropLast(kind.count + 1))), id.rawValue == name.dropLast(kind.count + 1) {
                return (id, kind)
            }
        }
        return nil
    }
}

/// Reading and replacing metadata files (callers hold the message lock when replacing).
enum SpoolFiles {
    static func path(_ paths: SpoolPaths, _ id: QueueID, _ area: Spool.Area, eml: Bool) -> String {
        eml ? paths.message(id, in: area) : paths.metadata(id, in: area)
    }

    /// The record of a complete message in `area`, or nil if there is none.
    static func readRecord(_ id: QueueID, in area: Spool.Area, paths: SpoolPaths) throws -> SpoolRecord? {
        // The message file first: once it is in an area, its metadata there is complete (moves
        // write the metadata before renaming the message in), so a metadata file being written
        // is never read half-written.
        guard Posix.exists(paths.message(id, in: area)) else { return nil }
        return try readMetadata(id, in: area, paths: paths)
    }

    /// The metadata of a message whose file is in `area`: its `.json` when it has one (format 1,
    /// or updated since its commit), else its file's trailer (format 2); nil when it has neither
    /// (a format-1 message file whose metadata never arrived: not a message).
    static func readMetadata(_ id: QueueID, in area: Spool.Area, paths: SpoolPaths) throws -> SpoolRecord? {
        let jsonPath = paths.metadata(id, in: area)
        guard let bytes = try Posix.readFile(jsonPath) else {
            return try trailerRecord(id, in: area, paths: paths)
        }
        let record = try SpoolJSON.decode(bytes, path: jsonPath)
        guard record.id == id else {
            throw SpoolError.corrupt(path: jsonPath, reason: "its id is \(record.id), not \(id)")
        }
        return record
    }

    /// The metadata in the trailer of a format-2 message file, if it has one.
    static func trailerRecord(_ id: QueueID, in area: Spool.Area, paths: SpoolPaths) throws -> SpoolRecord? {
        let messagePath = paths.message(id, in: area)
        guard let size = try Posix.fileSize(messagePath) else { return nil }
        return try SpoolTrailer.read(messagePath, id: id, fileSize: size)
    }

    /// Atomically replaces (or creates) `<area>/<id>.json`: written to `tmp/`, fsynced, renamed.
    static func replaceMetadata(_ record: SpoolRecord, in area: Spool.Area, paths: SpoolPaths, faults: SpoolFaultInjector?) throws {
        let temporary = paths.metadataUpdate(record.id)
        Posix.unlinkIfPresent(temporary)
        try faults.check(.writeMetadata, temporary)
        try Posix.writeNewFile(temporary, try SpoolJSON.encode(record))
        do {
            try faults.check(.renameMetadata, temporary)
            try Posix.rename(temporary, paths.metadata(record.id, in: area))
        } catch {
            Posix.unlinkIfPresent(temporary)
            throw error
        }
    }
}
