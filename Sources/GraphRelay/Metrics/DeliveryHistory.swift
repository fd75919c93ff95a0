import DequeModule
import Foundation
import GraphRelayDelivery
import NIOConcurrencyHelpers

/// The status page's memory of deliveries: the last ``capacity`` finished attempts, and the
/// attempts of the last hour counted per minute (so "the last hour" costs 60 counters, not a
/// list of every message).
final class DeliveryHistory: Sendable {
    struct Totals: Sendable, Equatable {
        var delivered = 0
        var deferred = 0
        var failed = 0
    }

    let capacity: Int
    private let state = NIOLockedValueBox(State())

    private struct State {
        var recent = Deque<DeliveryReport>()
        /// Minute number (seconds since 1970 / 60) and that minute's totals, oldest first.
        var minutes = Deque<(minute: Int, totals: Totals)>()
    }

    init(capacity: Int = 50) {
        self.capacity = capacity
    }

    func append(_ report: DeliveryReport) {
        let minute = Int(report.finishedAt.timeIntervalSince1970 / 60)
        state.withLockedValue { state in
            state.recent.append(report)
            if state.recent.count > capacity { state.recent.removeFirst() }
            if state.minutes.last?.minute != minute {
                state.minutes.append((minute, Totals()))
            }
            let last = state.minutes.count - 1
            switch report.outcome.metricName {
            case "delivered": state.minutes[last].totals.delivered += 1
            case "failed": state.minutes[last].totals.failed += 1
            default: state.minutes[last].totals.deferred += 1
            }
            while let first = state.minutes.first, first.minute <= minute - 60 { state.minutes.removeFirst() }
        }
    }

    /// The last attempts, newest first.
    func recent() -> [DeliveryReport] {
        state.withLockedValue { Array($0.recent.reversed()) }
    }

    /// Attempts that finished in the hour before `now`.
    func lastHour(now: Date = Date()) -> Totals {
        let current = Int(now.timeIntervalSince1970 / 60)
        return state.withLockedValue { state in
            state.minutes.filter { $0.minute > current - 60 }.reduce(into: Totals()) { sum, entry in
                sum.delivered += entry.totals.delivered
                sum.deferred += entry.totals.deferred
                sum.failed += entry.totals.failed
            }
        }
    }
}
