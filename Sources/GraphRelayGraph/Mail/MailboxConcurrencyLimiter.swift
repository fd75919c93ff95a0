/// At most `limit` concurrent requests per mailbox (Exchange allows 4 per app and mailbox and
/// throttles beyond); later callers wait in FIFO order.
actor MailboxConcurrencyLimiter {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct Slot {
        var active = 0
        var waiters: [Waiter] = []
    }

    let limit: Int
    private var slots: [String: Slot] = [:]
    private var nextID = 0

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Waits for a slot for `mailbox` (case-insensitive). Throws `CancellationError` if the task
    /// is cancelled while waiting.
    func acquire(_ mailbox: String) async throws {
        let key = mailbox.lowercased()
        var slot = slots[key] ?? Slot()
        if slot.active < limit {
            slot.active += 1
            slots[key] = slot
            return
        }
        nextID += 1
        let id = nextID
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                slots[key, default: Slot()].waiters.append(Waiter(id: id, continuation: continuation))
            }
        } onCancel: {
            Task { await self.cancelWaiter(key: key, id: id) }
        }
    }

    /// Frees the slot; the next waiter (if any) takes it over.
    func release(_ mailbox: String) {
        let key = mailbox.lowercased()
        guard var slot = slots[key] else { return }
        if !slot.waiters.isEmpty {
            let next = slot.waiters.removeFirst()
            slots[key] = slot
            next.continuation.resume()
            return
        }
        slot.active -= 1
        slots[key] = slot.active > 0 ? slot : nil
    }

    private func cancelWaiter(key: String, id: Int) {
        guard var slot = slots[key], let index = slot.waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = slot.waiters.remove(at: index)
        slots[key] = slot
        waiter.continuation.resume(throwing: CancellationError())
    }

    /// Requests running for `mailbox` (for tests).
    func active(_ mailbox: String) -> Int {
        slots[mailbox.lowercased()]?.active ?? 0
    }
}
