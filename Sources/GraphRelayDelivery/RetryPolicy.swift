import GraphRelaySpool

/// When transient failures are retried (the `spool.retry` configuration), like Postfix.
public struct RetryPolicy: Sendable, Equatable {
    /// Delay after the first transient failure. Default 5 minutes.
    public var initial: Duration = .seconds(300)
    /// Largest delay between attempts. Default 1 hour.
    public var maximum: Duration = .seconds(3600)
    /// How long a message is retried, counted from its acceptance; after a failure past this it
    /// expires (status 4.4.7) and fails. Default 5 days.
    public var lifetime: Duration = .seconds(5 * 24 * 3600)
    /// Factor between consecutive delays (`spool.retry.multiplier`). Default 2.
    public var multiplier: Double = 2

    public init(initial: Duration = .seconds(300), maximum: Duration = .seconds(3600), lifetime: Duration = .seconds(5 * 24 * 3600),
                multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.lifetime = lifetime
        self.multiplier = max(multiplier, 1)
    }

    /// The delay after the `failures`-th transient failure (1-based):
    /// `initial · multiplier^(failures-1)`, at most `maximum`. Default sequence: 5m, 10m, 20m, 40m,
    /// 1h, 1h, …
    public func backoff(afterFailures failures: Int) -> Duration {
        let initial = self.initial.seconds
        let maximum = max(self.maximum.seconds, initial)
        var delay = initial
        var step = 1
        while step < failures && delay < maximum {
            delay *= multiplier
            step += 1
        }
        return .milliseconds(Int64((min(delay, maximum) * 1000).rounded()))
    }
}

/// The delivery scheduler's limits (the `scheduler` configuration).
public struct SchedulerConfiguration: Sendable, Equatable {
    /// Concurrent Graph requests per application and mailbox. Default 4 (Graph's limit).
    public var concurrencyPerMailbox: Int = 4
    /// Messages started per minute per mailbox (token bucket). Default 30 (Exchange Online's
    /// sending limit); 0 or less: unlimited.
    public var messagesPerMinute: Double = 30
    /// Token bucket capacity: messages a mailbox may start at once after being idle. Default 1, so
    /// no 60-second window ever sees more than `messagesPerMinute` starts.
    public var burst: Int = 1
    /// Concurrent deliveries over all mailboxes. Default 64; shared round-robin.
    public var maxConcurrentDeliveries: Int = 64
    /// How long a 429 without `Retry-After` pauses the mailbox. Default 60 seconds.
    public var throttlePause: Duration = .seconds(60)
    /// How long the first token failure pauses the application; doubles with each further failure
    /// after a pause, up to `tokenFailureMaximumPause`. Defaults 30 seconds and 5 minutes.
    public var tokenFailurePause: Duration = .seconds(30)
    public var tokenFailureMaximumPause: Duration = .seconds(300)
    /// Backoff and lifetime of transient failures.
    public var retry: RetryPolicy = RetryPolicy()
    /// Bytes a mailbox may start uploading in any ``uploadWindow`` (Graph allows 150 MB of uploads
    /// per application and mailbox per 5 minutes and answers 429 beyond): messages whose size
    /// counts (see ``uploadCostThreshold``) wait for room instead (``UploadWindow``). Default
    /// 150 MiB; 0: unlimited.
    public var uploadBytesPerWindow: Int = 150 * 1024 * 1024
    /// The window of ``uploadBytesPerWindow``. Default 5 minutes.
    public var uploadWindow: Duration = .seconds(300)
    /// Messages larger than this count their size against ``uploadBytesPerWindow`` (the relay
    /// sets the largest message one sendMail request carries: those above go through drafts and
    /// upload sessions). Default 3,145,728.
    public var uploadCostThreshold: Int = 3 * 1024 * 1024

    public init() {}
}
