import Foundation
import GraphRelaySpool

/// The time source of the delivery agent: wall-clock time (stored in the spool) and sleeping
/// until a time. Tests inject a clock they move by hand.
public protocol SpoolClock: Sendable {
    func now() -> Date
    /// Returns at or after `deadline`; throws if the task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// The real clock.
public struct SystemSpoolClock: SpoolClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 {
            try await Task.sleep(nanoseconds: UInt64(min(seconds, 86400 * 365) * 1_000_000_000))
        } else {
            try Task.checkCancellation()
        }
    }
}
