import Foundation
import GraphRelayDelivery

/// A clock moved by hand. Sleepers wake when the time passes their deadline.
final class ManualClock: SpoolClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    private var sleepers: [UUID: (deadline: Date, continuation: CheckedContinuation<Void, any Error>)] = [:]

    /// Starts an hour ahead of real time (whole seconds), so messages stamped with the real time are
    /// due at once.
    init(_ start: Date = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down) + 3600)) {
        current = start
    }

    func now() -> Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    var sleeperCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return sleepers.count
    }

    /// The earliest deadline anyone sleeps until.
    var nextDeadline: Date? {
        lock.lock()
        defer { lock.unlock() }
        return sleepers.values.map(\.deadline).min()
    }

    func advance(by seconds: Double) {
        advance(to: now().addingTimeInterval(seconds))
    }

    func advance(to time: Date) {
        lock.lock()
        current = max(current, time)
        let due = sleepers.filter { $0.value.deadline <= current }
        for key in due.keys { sleepers[key] = nil }
        lock.unlock()
        for (_, sleeper) in due { sleeper.continuation.resume() }
    }

    func sleep(until deadline: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                lock.lock()
                if deadline <= current || Task.isCancelled {
                    let cancelled = Task.isCancelled
                    lock.unlock()
                    if cancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                    return
                }
                sleepers[id] = (deadline, continuation)
                lock.unlock()
            }
        } onCancel: {
            lock.lock()
            let sleeper = sleepers.removeValue(forKey: id)
            lock.unlock()
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
