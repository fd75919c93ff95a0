import Foundation
import NIOConcurrencyHelpers

/// The record of delivery attempts under way: `<spool>/attempts.log`, one line per attempt
/// started, `<id> <attempt number> <start time in ms since 1970>\n`, appended with a single
/// `write` (no new file, no rename, no fsync).
///
/// It replaces rewriting a message's metadata to `delivering` at the start of every attempt. The
/// metadata on disk is only updated with the attempt's result (``Spool/recordAttempt(_:_:now:)``),
/// which then also counts the attempt. A line whose attempt number is higher than the `attempts`
/// recorded in that message's metadata is an attempt that never recorded its result:
/// - recovery (server start) counts it as an interrupted, ambiguous attempt and empties the file;
/// - listing (queue tooling beside a running server) shows that message as `delivering`.
///
/// Like the old metadata rewrite, the line survives a killed process (it is in the page cache);
/// after a power loss it may be missing, and the attempt then goes uncounted (the message itself
/// is safe either way, and is retried).
///
/// The server keeps the attempts under way in memory; when the file exceeds
/// ``compactionThreshold`` it is rewritten (tmp + rename) with only those.
final class SpoolAttemptJournal: Sendable {
    struct Entry: Sendable, Equatable {
        var attempt: Int
        var startedAt: Date
    }

    static let compactionThreshold: Int64 = 256 * 1024

    let path: String
    private let temporaryPath: String
    private struct State {
        var fd: Int32 = -1
        var size: Int64 = 0
        var inFlight: [QueueID: Entry] = [:]
    }
    private let state = NIOLockedValueBox(State())

    init(paths: SpoolPaths) {
        self.path = paths.attemptJournal
        self.temporaryPath = paths.tmp + "/attempts.log"
    }

    deinit {
        state.withLockedValue { state in
            if state.fd >= 0 { Posix.close(state.fd) }
        }
    }

    func close() {
        state.withLockedValue { state in
            if state.fd >= 0 { Posix.close(state.fd) }
            state.fd = -1
        }
    }

    /// Records that attempt `entry.attempt` of `id` starts (blocking; on an I/O thread).
    func begin(_ id: QueueID, _ entry: Entry) throws {
        try state.withLockedValue { state throws in
            if state.fd < 0 {
                state.fd = try Posix.open(path, O_WRONLY | O_APPEND | O_CREAT)
                state.size = (try? Posix.fileSize(path)).flatMap { $0 } ?? 0
            }
            let line = Array(Self.line(id, entry).utf8)
            try Posix.writeAll(state.fd, line, path: path)
            state.size += Int64(line.count)
            state.inFlight[id] = entry
            if state.size > Self.compactionThreshold {
                // Housekeeping: the attempt is recorded already. A compaction that fails leaves
                // the file and its descriptor as they were, and is tried again at the next start.
                try? compact(&state)
            }
        }
    }

    /// The attempt under way for `id` (started by this process), removed from the set.
    func finish(_ id: QueueID) -> Entry? {
        state.withLockedValue { $0.inFlight.removeValue(forKey: id) }
    }

    /// Rewrites the file with the attempts under way only.
    private func compact(_ state: inout State) throws {
        let text = state.inFlight.sorted { $0.key < $1.key }.map { Self.line($0.key, $0.value) }.joined()
        Posix.unlinkIfPresent(temporaryPath)
        try Posix.writeNewFile(temporaryPath, Array(text.utf8))
        // Opened before the rename (the descriptor follows the file), so that no failure can
        // leave `state.fd` naming a closed descriptor.
        let fd: Int32
        do {
            fd = try Posix.open(temporaryPath, O_WRONLY | O_APPEND)
            do {
                try Posix.rename(temporaryPath, path)
            } catch {
                Posix.close(fd)
                throw error
            }
        } catch {
            Posix.unlinkIfPresent(temporaryPath)
            throw error
        }
        if state.fd >= 0 { Posix.close(state.fd) }
        state.fd = fd
        state.size = Int64(text.utf8.count)
    }

    static func line(_ id: QueueID, _ entry: Entry) -> String {
        let millis = Int64((entry.startedAt.timeIntervalSince1970 * 1000).rounded())
        return "\(id.rawValue) \(entry.attempt) \(millis)\n"
    }

    /// The latest attempt per message found in the file at `path` (empty if there is none).
    /// Damaged lines (a torn last line after a crash) are skipped.
    static func read(_ path: String) throws -> [QueueID: Entry] {
        guard let bytes = try Posix.readFile(path, limit: 64 << 20) else { return [:] }
        var entries: [QueueID: Entry] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count == 3,
                let id = QueueID(String(decoding: fields[0], as: UTF8.self)),
                let attempt = Int(String(decoding: fields[1], as: UTF8.self)),
                let millis = Int64(String(decoding: fields[2], as: UTF8.self))
            else { continue }
            let entry = Entry(attempt: attempt, startedAt: Date(timeIntervalSince1970: Double(millis) / 1000))
            if let existing = entries[id], existing.attempt >= attempt { continue }
            entries[id] = entry
        }
        return entries
    }

    /// `record` as seen with the attempts under way: `delivering` (and the attempt counted) when
    /// the journal has an attempt newer than the ones its metadata records.
    static func overlay(_ record: SpoolRecord, _ entries: [QueueID: Entry]) -> SpoolRecord {
        guard record.state == .queued, let entry = entries[record.id], entry.attempt > record.attempts else { return record }
        var record = record
        record.state = .delivering
        record.attempts = entry.attempt
        record.lastAttemptAt = SpoolJSON.stored(entry.startedAt)
        return record
    }
}
