import GraphRelaySpool

/// How one delivery attempt ended, as the Graph side classifies it. `requestId` is Graph's
/// `request-id` of the answer, `clientRequestId` the `client-request-id` the relay sent with the
/// request (what Microsoft support asks for).
public enum DeliveryOutcome: Sendable, Equatable {
    /// Graph accepted the message (202).
    case delivered(requestId: String?, clientRequestId: String? = nil)
    /// Failed for now (network error, 5xx, timeout). `retryAfter` is Graph's `Retry-After` if it
    /// sent one. `ambiguous`: the body was sent and no answer came (connection lost, timeout, 500,
    /// 503, 504), so Graph may have stored the message; it is retried anyway (at-least-once, same
    /// Message-ID), logged and counted.
    case transient(reason: String, retryAfter: Duration? = nil, ambiguous: Bool = false, requestId: String? = nil, clientRequestId: String? = nil)
    /// Will never succeed (unknown mailbox, send-as denied, invalid message, too large…).
    /// `status` is the enhanced status code for the bounce (`5.1.1`, `5.7.1`, `5.3.4`, …).
    case permanent(reason: String, status: String = "5.0.0", requestId: String? = nil, clientRequestId: String? = nil)
    /// Graph answered 429: the mailbox is paused for `retryAfter` (or the configured default).
    case throttled(retryAfter: Duration?, requestId: String? = nil, clientRequestId: String? = nil)
    /// No access token could be had: the application is paused; the message waits.
    case tokenFailure(reason: String)
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension DeliveryOutcome {
    /// The outcome as the delivery log line names it: `delivered`, `deferred`, `ambiguous`
    /// (deferred, but Graph may have stored it), `failed`, `throttled`, `token-failure`.
    public var logName: String {
        switch self {
        case .delivered: "delivered"
        case .transient(_, _, let ambiguous, _, _): ambiguous ? "ambiguous" : "deferred"
        case .permanent: "failed"
        case .throttled: "throttled"
        case .tokenFailure: "token-failure"
        }
    }
}

extension DeliveryOutcome {
    /// The outcome as metrics count it: `delivered`, `deferred` (also throttled and token
    /// failures), `ambiguous`, `failed`.
    public var metricName: String {
        switch self {
        case .delivered: "delivered"
        case .transient(_, _, let ambiguous, _, _): ambiguous ? "ambiguous" : "deferred"
        case .permanent: "failed"
        case .throttled, .tokenFailure: "deferred"
        }
    }

    /// Graph's `request-id` of the answer, when there was one.
    public var requestId: String? {
        switch self {
        case .delivered(let requestId, _), .transient(_, _, _, let requestId, _), .permanent(_, _, let requestId, _),
             .throttled(_, let requestId, _):
            requestId
        case .tokenFailure:
            nil
        }
    }

    /// The `client-request-id` the relay sent with the request that ended the attempt.
    public var clientRequestId: String? {
        switch self {
        case .delivered(_, let id), .transient(_, _, _, _, let id), .permanent(_, _, _, let id), .throttled(_, _, let id):
            id
        case .tokenFailure:
            nil
        }
    }
}
