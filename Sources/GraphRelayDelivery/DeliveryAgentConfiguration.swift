import Foundation
import GraphRelaySpool

/// Configuration of the ``DeliveryAgent``.
public struct DeliveryAgentConfiguration: Sendable {
    /// Concurrency, rate, pauses, retry policy.
    public var scheduler: SchedulerConfiguration = SchedulerConfiguration()
    /// Delivery status notifications.
    public var bounces: BouncePolicy = BouncePolicy()
    /// Host name in `Reporting-MTA` of notifications. Default: this host's name.
    public var reportingMTA: String = ProcessInfo.processInfo.hostName
    /// How often the queue directory is re-read to pick up changes made by queue tooling in
    /// another process. Default 60 seconds.
    public var rescanInterval: Duration = .seconds(60)
    /// How often the `kick` file that queue tooling touches is checked (a change rescans at once).
    /// Default 1 second.
    public var kickPollInterval: Duration = .seconds(1)
    /// How long a message whose spool bookkeeping failed (I/O error) waits before it is tried again.
    /// Default 30 seconds.
    public var spoolErrorDelay: Duration = .seconds(30)

    public init() {}
}
