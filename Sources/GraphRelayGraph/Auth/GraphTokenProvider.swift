import Logging

/// Supplies access tokens for one application.
public protocol GraphTokenProvider: Sendable {
    /// A token valid for a while yet: from the cache, or fetched (concurrent callers share one fetch).
    func accessToken(logger: Logger) async throws(GraphTokenError) -> GraphAccessToken
    /// Graph refused `token` (401): drop it from the cache so the next call fetches a new one. A
    /// token that is no longer the cached one is ignored.
    func invalidate(_ token: GraphAccessToken) async
}
