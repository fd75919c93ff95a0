import Foundation

/// A token bucket: `capacity` tokens, refilled at `ratePerSecond`. The scheduler uses one per
/// mailbox for messages started (one token each) and one for bytes uploaded (a token a byte).
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

    /// What taking `amount` costs: never more than the capacity, so that anything can be taken
    /// from a full bucket.
    private func cost(_ amount: Double) -> Double { min(amount, capacity) }

    /// Whether `amount` tokens (default one message) may be taken at `now`.
    public func canTake(_ amount: Double = 1, at now: Date) -> Bool {
        available(at: now) >= cost(amount) - 1e-6
    }

    /// Takes `amount` tokens (call only when ``canTake(_:at:)``).
    public mutating func take(_ amount: Double = 1, at now: Date) {
        if isUnlimited { return }
        tokens = max(0, available(at: now) - cost(amount))
        updatedAt = max(updatedAt, now)
    }

    /// When `amount` tokens are available (`now` if they are).
    public func nextTokenTime(for amount: Double = 1, after now: Date) -> Date {
        let have = available(at: now)
        let need = cost(amount)
        if have >= need - 1e-6 { return now }
        // Rounded up to the millisecond, so the tokens are surely there at that time.
        let wait = ((need - have) / ratePerSecond * 1000).rounded(.up) / 1000
        return now.addingTimeInterval(wait)
    }

    /// Whether the bucket is full at `now` (an idle mailbox can be forgotten).
    public func isFull(at now: Date) -> Bool {
        available(at: now) >= capacity - 1e-6
    }
}
