import Foundation

/// Files of delivered messages kept in `tmp/` for the next messages to overwrite, instead of
/// deleting them and creating new ones.
///
/// Why: on ext4 creating a file soon after many others were deleted is expensive — without a
/// journal the inode allocator skips every inode freed in the last minutes, looking each one up —
/// and a spool that creates and deletes two files per message pays it on every commit, more the
/// larger the backlog it has just delivered. Renaming a delivered message's files back into
/// `tmp/` and overwriting them later allocates and frees nothing.
///
/// A spare is named `tmp/<old id>.<eml|json>.spare`; its content is meaningless (the writer
/// overwrites it from offset 0 and cuts it to the new size before the fsync). The first
/// ``contentKeptFor`` spares keep their disk blocks (so a similar message overwrites them in
/// place); beyond that, and for files above `maxFileSize`, a spare of more than one block
/// (``smallFileSize``) is cut to zero length first, so idle spares hold at most
/// `contentKeptFor` × `maxFileSize` bytes plus a block for each of the others. Recovery keeps spares
/// (they are not interrupted writes) and the pool adopts them when a server opens the spool.
/// Only the server recycles; queue tooling deletes.
final class SpoolFilePool: Sendable {
    private struct State {
        var spares: [String] = []
        /// Recycles between "room reserved" and "renamed into tmp/".
        var reserved = 0
        var reused = 0
        var recycled = 0
    }

    static let suffix = ".spare"
    /// Spares that keep their content (disk blocks); the others are emptied.
    static let contentKeptFor = 4096
    /// Files up to this size (one filesystem block: metadata files) are never emptied; freeing
    /// one block costs more than it saves.
    static let smallFileSize: Int64 = 4096

    private let directory: String
    private let capacity: Int
    private let maxFileSize: Int64
    private let state = LockedBox(State())

    /// - Parameters:
    ///   - directory: the spool's `tmp/`.
    ///   - capacity: spares kept at most (0: recycle nothing, delete).
    ///   - maxFileSize: larger files are emptied before they become spares.
    init(directory: String, capacity: Int, maxFileSize: Int64) {
        self.directory = directory
        self.capacity = max(0, capacity)
        self.maxFileSize = maxFileSize
    }

    /// Whether `name` (a file name in `tmp/`) is a spare.
    static func isSpare(_ name: String) -> Bool {
        name.hasSuffix(suffix)
    }

    /// The path of a spare to overwrite, or nil (create a new file then).
    func take() -> String? {
        state.withLockedValue { state in
            guard let path = state.spares.popLast() else { return nil }
            state.reused += 1
            return path
        }
    }

    /// Takes over spares found in `tmp/` when the spool was opened; deletes those beyond the
    /// capacity, and any that has another name too (after a power failure a file system check
    /// may leave a message's file both in the queue and here: overwriting it would change the
    /// queued message).
    func adopt(_ names: [String]) {
        let usable = names.filter { name in
            let path = directory + "/" + name
            guard let info = Posix.status(path), info.st_nlink == 1 else {
                Posix.unlinkIfPresent(path)
                return false
            }
            return true
        }
        let excess = state.withLockedValue { state -> ArraySlice<String> in
            let room = max(0, capacity - state.spares.count - state.reserved)
            state.spares += usable.prefix(room).map { directory + "/" + $0 }
            return usable.dropFirst(room)
        }
        for name in excess { Posix.unlinkIfPresent(directory + "/" + name) }
    }

    /// Removes `path` (a file of a message leaving the spool, `size` bytes): renamed into `tmp/`
    /// as a spare (emptied first when it is large or many spares already keep their content),
    /// or deleted when the pool is full. `spareName` is unique (derived from the message id).
    /// Call it holding the message's lock.
    ///
    /// Returns the spare's path, which the caller must ``publish(_:)`` only after an fsync of the
    /// directory the file left: until the removal is durable, overwriting the file could, after
    /// a power failure, change a message that is back in the queue. (Or ``abandon(_:)`` it.)
    func recycle(_ path: String, size: Int64, spareName: String) throws(SpoolError) -> String? {
        enum Decision { case keep, empty, delete }
        let decision = state.withLockedValue { state -> Decision in
            let held = state.spares.count + state.reserved
            guard held < capacity else { return .delete }
            state.reserved += 1
            guard size > Self.smallFileSize else { return .keep }
            return size > maxFileSize || held >= Self.contentKeptFor ? .empty : .keep
        }
        if decision == .delete {
            try Posix.unlink(path)
            return nil
        }
        let spare = directory + "/" + spareName + Self.suffix
        do {
            if decision == .empty && size > 0 {
                try Posix.truncate(path, to: 0)
            }
            try Posix.rename(path, spare)
        } catch {
            state.withLockedValue { $0.reserved -= 1 }
            throw error
        }
        return spare
    }

    /// Makes recycled files available (their old directory has been fsynced since).
    func publish(_ spares: [String]) {
        guard !spares.isEmpty else { return }
        state.withLockedValue { state in
            state.reserved -= spares.count
            state.spares += spares
            state.recycled += spares.count
        }
    }

    /// Gives up recycled files that cannot be published (the fsync failed): they stay in `tmp/`
    /// and are looked at again when a server next opens the spool.
    func abandon(_ spares: [String]) {
        guard !spares.isEmpty else { return }
        state.withLockedValue { $0.reserved -= spares.count }
    }

    /// (spares now, files reused, files recycled) — for tests and measurements.
    var statistics: (spares: Int, reused: Int, recycled: Int) {
        state.withLockedValue { ($0.spares.count, $0.reused, $0.recycled) }
    }
}
