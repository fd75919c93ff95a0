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

/// Supplies access tokens for one application.
public protocol GraphTokenProvider: Sendable {
    /// A token valid for a while yet: from the cache, or fetched (concurrent callers share one fetch).
    func accessToken(logger: Logger) async throws(GraphTokenError) -> GraphAccessToken
    /// Graph refused `token` (401): drop it from the cache so the next call fetches a new one. A
    /// token that is no longer the cached one is ignored.
    func invalidate(_ token: GraphAccessToken) async
}

import Logging
