import Foundation
import GraphRelaySpool

/// A token bucket: `capacity` tokens, refilled at `ratePerSecond`; one token per message started.
public struct TokenBucket: Sendable, Equatable {
    public let capacity: Double
    public let ratePerSecond: Double
    public private(set) var tokens: Double
    public private(set) var updatedAt: Date

    /// A full bucket. A rate of 0 or less means unlimited.
    public init(capacity: Int, perMinute: Double, now: Date) {
        self.capacity = Double(max(1, capacity))
        self.ratePerSecond = perMinute / 60
        self.tokens = Double(max(1, capacity))
        self.updatedAt = now
    }

    public var isUnlimited: Bool { ratePerSecond <= 0 }

    /// Tokens available at `now` (the clock never runs backwards for the bucket).
    public func available(at now: Date) -> Double {
        if isUnlimited { return capacity }
        let elapsed = max(0, now.timeIntervalSince(updatedAt))
        return min(capacity, tokens + elapsed * ratePerSecond)
    }

    /// Whether a message may start at `now`.
    public func canTake(at now: Date) -> Bool {
        available(at: now) >= 1 - 1e-6
    }

    /// Takes one token (call only when ``canTake(at:)``).
    public mutating func take(at now: Date) {
        if isUnlimited { return }
        tokens = max(0, available(at: now) - 1)
        updatedAt = max(updatedAt, now)
    }

    /// When the next token is available (`now` if one is).
    public func nextTokenTime(after now: Date) -> Date {
        let have = available(at: now)
        if have >= 1 - 1e-6 { return now }
        // Rounded up to the millisecond, so the token is surely there at that time.
        let wait = ((1 - have) / ratePerSecond * 1000).rounded(.up) / 1000
        return now.addingTimeInterval(wait)
    }

    /// Whether the bucket is full at `now` (an idle mailbox can be forgotten).
    public func isFull(at now: Date) -> Bool {
        available(at: now) >= capacity - 1e-6
    }
}
