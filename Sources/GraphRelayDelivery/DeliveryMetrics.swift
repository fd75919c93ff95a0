import GraphRelaySpool

/// Counters of the delivery agent since it started (for logs, metrics endpoints and tests).
public struct DeliveryMetrics: Sendable, Equatable {
    /// Messages Graph accepted.
    public var delivered = 0
    /// Attempts that failed transiently and were rescheduled.
    public var deferred = 0
    /// Attempts whose outcome was unknown (Graph may have stored the message), retried anyway
    /// with the same Message-ID.
    public var ambiguousRetries = 0
    /// 429 answers (the mailbox was paused).
    public var throttled = 0
    /// Attempts that found no token (the application was paused).
    public var tokenFailures = 0
    /// Messages failed permanently.
    public var failedPermanently = 0
    /// Messages whose lifetime ran out.
    public var expired = 0
    /// Delivery status notifications queued.
    public var bouncesQueued = 0
    /// Failures for which no notification was sent (null sender, automatic, disabled).
    public var bouncesSuppressed = 0
    /// Spool operations that failed (logged).
    public var spoolErrors = 0
    /// Deliveries under way now.
    public var inFlight = 0
    /// Messages the scheduler knows (queued or in flight).
    public var queued = 0

    public init() {}
}
