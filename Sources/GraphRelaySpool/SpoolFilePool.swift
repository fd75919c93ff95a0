import Foundation
import NIOConcurrencyHelpers

/// Files of delivered messages kept in `tmp/` for the next messages to overwrite, instead of
/// deleting them and creating new ones.
///
/// Why: on ext4 creating a file soon after many others were deleted is expensive — without a
/// journal the inode allocator skips every inode freed in the last minutes, looking each one up —
/// and a spool that creates and deletes two files per message pays it on every commit, more the
/// larger the backlog it has just delivered. Renaming a delivered message's files back into
/// `tmp/` and overwriting them later allocates and frees nothing.
///
/// A spare is named `tmp/<old id>.<eml|json>.spare` and is always empty: a delivered message's
/// content (and its envelope) must not linger on disk, so a file is cut to zero length as soon as
/// it becomes a spare — keeping the inode is what saves the allocation cost. Recovery keeps spares
/// (they are not interrupted writes) and the pool adopts them when a server opens the spool,
/// emptying any that still hold bytes (from a crash between the rename and the cut). Only the
/// server recycles; queue tooling deletes.
final class SpoolFilePool: Sendable {
    private struct State {
        var spares: [String] = []
        /// Recycles between "room reserved" and "renamed into tmp/".
        var reserved = 0
        var reused = 0
        var recycled = 0
    }

    static let suffix = ".spare"

    private let directory: String
    private let capacity: Int
    private let state = NIOLockedValueBox(State())

    /// - Parameters:
    ///   - directory: the spool's `tmp/`.
    ///   - capacity: spares kept at most (0: recycle nothing, delete).
    init(directory: String, capacity: Int) {
        self.directory = directory
        self.capacity = max(0, capacity)
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
            guard info.st_size == 0 else {
                do {
                    try Posix.truncate(path, to: 0)
                    return true
                } catch {
                    Posix.unlinkIfPresent(path)
                    return false
                }
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

    /// Removes `path` (a file of a message leaving the spool): renamed into `tmp/` as a spare and
    /// cut to zero length, or deleted when the pool is full. `spareName` is unique (derived from
    /// the message id). Call it holding the message's lock.
    ///
    /// The file is renamed before it is cut, so a crash in between leaves the queue intact (the
    /// next start empties the spare). Returns the spare's path, which the caller must
    /// ``publish(_:)`` only after an fsync of the directory the file left: until the removal is
    /// durable, overwriting the file could, after a power failure, change a message that is back
    /// in the queue. (Or ``abandon(_:)`` it.)
    func recycle(_ path: String, spareName: String) throws(SpoolError) -> String? {
        let keep = state.withLockedValue { state -> Bool in
            guard state.spares.count + state.reserved < capacity else { return false }
            state.reserved += 1
            return true
        }
        guard keep else {
            try Posix.unlink(path)
            return nil
        }
        let spare = directory + "/" + spareName + Self.suffix
        do {
            try Posix.rename(path, spare)
        } catch {
            state.withLockedValue { $0.reserved -= 1 }
            throw error
        }
        do {
            try Posix.truncate(spare, to: 0)
        } catch {
            // A spare that cannot be emptied is not kept.
            state.withLockedValue { $0.reserved -= 1 }
            Posix.unlinkIfPresent(spare)
            return nil
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

    /// Creates up to `count` empty spares in `tmp/` (new names, `0600`), without going beyond
    /// the capacity, and makes them available at once: nothing depends on a new empty file, so
    /// no fsync is needed before a commit writes into it. Stops at the first error (the spool
    /// works without spares). Returns how many it created.
    func preallocate(_ count: Int) -> Int {
        let wanted = state.withLockedValue { state in
            max(0, min(count, capacity - state.spares.count - state.reserved))
        }
        var created: [String] = []
        for _ in 0..<wanted {
            let path = directory + "/" + QueueID.make().rawValue + ".eml" + Self.suffix
            do {
                Posix.close(try Posix.open(path, O_WRONLY | O_CREAT | O_EXCL))
            } catch {
                break
            }
            created.append(path)
        }
        state.withLockedValue { $0.spares += created }
        return created.count
    }

    /// (spares now, files reused, files recycled) — for tests and measurements.
    var statistics: (spares: Int, reused: Int, recycled: Int) {
        state.withLockedValue { ($0.spares.count, $0.reused, $0.recycled) }
    }
}
