/// A bearer token for Graph with its lifetime. The value is never printed.
public struct GraphAccessToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    /// When the token stops being valid (from `expires_in`, monotonic clock).
    public let expiresAt: ContinuousClock.Instant
    /// When the provider fetches a new one (before ``expiresAt``).
    public let refreshAt: ContinuousClock.Instant

    public init(value: String, expiresAt: ContinuousClock.Instant, refreshAt: ContinuousClock.Instant) {
        self.value = value
        self.expiresAt = expiresAt
        self.refreshAt = min(refreshAt, expiresAt)
    }

    public var description: String {
        let remaining = expiresAt - ContinuousClock.now
        return "GraphAccessToken(redacted, expires in \(remaining.components.seconds) s)"
    }

    public var debugDescription: String { description }
}
