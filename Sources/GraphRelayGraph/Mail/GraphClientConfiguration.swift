import NIOCore

/// Settings of a ``GraphClient``. Every value has a documented default.
public struct GraphClientConfiguration: Sendable {
    /// Connection handling (timeouts, pool, proxy, TLS trust). The application's `caFile` is
    /// added to `http.tls.additionalTrustRoots`. Default: ``HTTPClientConfiguration`` defaults.
    public var http = HTTPClientConfiguration()
    /// Time limit of one sendMail request, from the request head to Graph's answer. A 3 MB
    /// message is 4 MB of base64 to upload. Default 120 s.
    public var sendMailTimeout: TimeAmount = .seconds(120)
    /// Time limit of one token request. Default 30 s.
    public var tokenRequestTimeout: TimeAmount = .seconds(30)
    /// Tokens are replaced this long before they expire (at most half their lifetime). Default 5 min.
    public var tokenRefreshMargin: Duration = .seconds(300)
    /// Concurrent requests per mailbox; Exchange allows 4 per application and mailbox and answers
    /// 429 beyond. `nil` when the caller already holds each mailbox to its limit (the relay's
    /// delivery scheduler does), so that one place enforces it. Default 4.
    public var maxConcurrentRequestsPerMailbox: Int? = 4
    /// Largest request body (the base64 text) sent; larger messages fail locally as
    /// ``GraphSendFailure/Kind/tooLarge`` without an upload. Graph's limit is 4 MB. Default 4 MiB.
    public var maxRequestBodySize: Int = 4 * 1024 * 1024
    /// Bytes sent per `PUT` of an attachment upload session: a multiple of 320 KiB, at most 4 MiB
    /// (Graph's rules; other values are rounded down). One chunk per upload is held in memory.
    /// Default 3,276,800 (10 × 320 KiB).
    public var uploadChunkSize: Int = 10 * 320 * 1024
    /// Attachments at least this large (decoded) go through an upload session; smaller ones are
    /// posted in one request. Graph's documented threshold: 3 MB (3,145,728 bytes).
    public var uploadSessionThreshold: Int = 3 * 1024 * 1024
    /// After a failed upload chunk the session is asked where it stands after this delay,
    /// doubled for each further failure (unless Graph sent `Retry-After`). Default 1 s.
    public var uploadRetryDelay: Duration = .seconds(1)

    public init() {}

    /// The largest raw message that fits ``maxRequestBodySize`` once base64-encoded
    /// (3,145,728 bytes by default): what the relay should advertise as SMTP `SIZE`.
    public var maxMessageSize: Int { maxRequestBodySize / 4 * 3 }
}
