import Foundation
import GraphRelaySpool

/// Bytes started per mailbox in a sliding window: Graph allows 150 MB of uploads per application
/// and mailbox in any 5 minutes. A message may start when its cost and what started in the last
/// ``window`` fit ``limit`` — or when nothing did (a message as large as the whole limit).
/// Unlike a token bucket, no window ever sees more than the limit.
struct UploadWindow: Sendable, Equatable {
    let limit: Int
    let window: TimeInterval
    /// Starts within the window, oldest first.
    private var starts: [(at: Date, cost: Int)] = []

    init(limit: Int, window: TimeInterval) {
        self.limit = limit
        self.window = window
    }

    static func == (lhs: UploadWindow, rhs: UploadWindow) -> Bool {
        lhs.limit == rhs.limit && lhs.window == rhs.window && lhs.starts.map(\.at) == rhs.starts.map(\.at)
            && lhs.starts.map(\.cost) == rhs.starts.map(\.cost)
    }

    /// Bytes started within the window ending at `now`.
    func used(at now: Date) -> Int {
        starts.reduce(0) { $0 + (now.timeIntervalSince($1.at) < window ? $1.cost : 0) }
    }

    func canStart(_ cost: Int, at now: Date) -> Bool {
        guard cost > 0 else { return true }
        let used = used(at: now)
        return used == 0 || used + cost <= limit
    }

    mutating func start(_ cost: Int, at now: Date) {
        starts.removeAll { now.timeIntervalSince($0.at) >= window }
        if cost > 0 { starts.append((now, cost)) }
    }

    /// When a message of `cost` may start (`now` if it may).
    func nextStart(for cost: Int, after now: Date) -> Date {
        guard !canStart(cost, at: now) else { return now }
        // The earliest time enough of the oldest starts have left the window.
        var used = used(at: now)
        for entry in starts where now.timeIntervalSince(entry.at) < window {
            used -= entry.cost
            if used == 0 || used + cost <= limit { return entry.at.addingTimeInterval(window) }
        }
        return now.addingTimeInterval(window)
    }

    /// Whether nothing is within the window (an idle mailbox can be forgotten).
    func isEmpty(at now: Date) -> Bool { used(at: now) == 0 }
}
