import GraphRelayGraph
import Logging

/// A token provider that hands out a fixed token (for tests that do not need Entra).
actor StaticTokenProvider: GraphTokenProvider {
    let value: String
    private(set) var invalidations = 0

    init(_ value: String) {
        self.value = value
    }

    func accessToken(logger: Logger) async throws(GraphTokenError) -> GraphAccessToken {
        GraphAccessToken(value: value, expiresAt: .now + .seconds(3600), refreshAt: .now + .seconds(3000))
    }

    func invalidate(_ token: GraphAccessToken) async {
        invalidations += 1
    }
}
