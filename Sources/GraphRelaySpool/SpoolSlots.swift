import NIOConcurrencyHelpers

/// Empty message files made ahead in `queue/` under ids of their own — *slots* — so that a
/// commit needs one `fdatasync` and nothing else: the message is written straight into
/// `queue/<id>.eml`, whose directory entry was made durable when the slot was made (one fsync of
/// `queue/` per batch of slots, off the path to the `250`). Without a slot a commit writes in
/// `tmp/`, renames and waits for a fsync of `queue/` (``SpoolWriter``).
///
/// A slot is a zero-length `<id>.eml` with no `<id>.json`: not a message to anything that reads
/// the queue (it has no metadata). Recovery keeps slots and the server takes them over; a file
/// written into a slot by a commit that never completed is removed, or moved to `corrupt/` when
/// its bytes do not match its checksum (docs/spool.md, "Slots"). A slot's id was made when the
/// slot was, shortly before the message it ends up holding arrived.
final class SpoolSlots: Sendable {
    private struct State {
        var ready: [QueueID] = []
        var refilling = false
        var taken = 0
    }

    /// Slots kept ready at most; refilled when fewer than half are left. 0: no slots.
    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// The id of a ready slot (oldest first), or nil.
    func take() -> QueueID? {
        state.withLockedValue { state in
            guard !state.ready.isEmpty else { return nil }
            state.taken += 1
            return state.ready.removeFirst()
        }
    }

    /// How many slots to make now (and marks a refill as under way), or nil when none are needed
    /// or a refill is already running.
    func beginRefill() -> Int? {
        state.withLockedValue { state in
            guard capacity > 0, !state.refilling, state.ready.count <= capacity / 2 else { return nil }
            state.refilling = true
            return capacity - state.ready.count
        }
    }

    /// Makes `ids` available (their directory entries are durable) and ends the refill.
    func finishRefill(_ ids: [QueueID]) {
        state.withLockedValue { state in
            state.ready += ids
            state.refilling = false
        }
    }

    /// Slots found by recovery (durable: recovery fsynced `queue/`); those beyond the capacity
    /// are returned for the caller to remove.
    func adopt(_ ids: [QueueID]) -> [QueueID] {
        state.withLockedValue { state in
            let room = max(0, capacity - state.ready.count)
            let sorted = ids.sorted()
            state.ready += sorted.prefix(room)
            return Array(sorted.dropFirst(room))
        }
    }

    /// Whether `queue/<id>.eml`, which has no `<id>.json`, is a slot (empty) rather than a
    /// message (or a commit that did not finish). The one test of slotness: recovery and
    /// ``Spool/count(_:)`` use it.
    static func isSlot(_ id: QueueID, paths: SpoolPaths) throws(SpoolError) -> Bool {
        try Posix.fileSize(paths.message(id, in: .queue)) == 0
    }

    /// (ready now, taken so far): for tests and measurements.
    var statistics: (ready: Int, taken: Int) {
        state.withLockedValue { ($0.ready.count, $0.taken) }
    }
}
