import NIOHTTP1

/// What the admin listener answers, free of I/O: `GET /healthz` (200 while the process runs its
/// event loops — the answer comes from one), `GET /readyz` (200 or 503 with the checks as JSON),
/// `GET /metrics` (Prometheus text format) and `GET /` (the status page), the last two behind
/// `admin.bearerToken` when one is set. Only GET and HEAD.
struct AdminRouter: Sendable {
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var contentType = "text/plain; charset=utf-8"
        var body: String
        var headers: [(String, String)] = []
    }

    /// Where the answers' content comes from (the running relay).
    struct Sources: Sendable {
        var readiness: @Sendable () -> ReadinessReport
        var metrics: @Sendable () async -> String = { "" }
        var statusPage: @Sendable () async -> String = { "" }
    }

    /// `admin.bearerToken`, revealed; nil when none is configured.
    let bearerToken: String?
    let sources: Sources

    init(bearerToken: String?, sources: Sources) {
        self.bearerToken = bearerToken
        self.sources = sources
    }

    init(bearerToken: String?, readiness: @escaping @Sendable () -> ReadinessReport) {
        self.init(bearerToken: bearerToken, sources: Sources(readiness: readiness))
    }

    func respond(method: HTTPMethod, uri: String, headers: HTTPHeaders) async -> Response {
        guard method == .GET || method == .HEAD else {
            return Response(status: .methodNotAllowed, body: "only GET and HEAD\n", headers: [("Allow", "GET, HEAD")])
        }
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
        switch path {
        case "/healthz":
            return Response(status: .ok, body: "ok\n")
        case "/readyz":
            let report = sources.readiness()
            return Response(status: report.isReady ? .ok : .serviceUnavailable, contentType: "application/json", body: report.json)
        default:
            if let bearerToken, !Self.authorized(headers, token: bearerToken) {
                return Response(status: .unauthorized, body: "a bearer token is required (admin.bearerToken)\n",
                                headers: [("WWW-Authenticate", "Bearer realm=\"graph-relay\"")])
            }
            switch path {
            case "/metrics":
                return Response(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: await sources.metrics())
            case "/":
                return Response(status: .ok, contentType: "text/html; charset=utf-8", body: await sources.statusPage(),
                                headers: [("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")])
            default:
                return Response(status: .notFound, body: "not found: /, /metrics, /healthz, /readyz\n")
            }
        }
    }

    /// `Authorization: Bearer <token>`, compared in time that does not depend on where it differs.
    static func authorized(_ headers: HTTPHeaders, token: String) -> Bool {
        guard let value = headers.first(name: "authorization"), value.count > 7,
              value.prefix(7).lowercased() == "bearer " else { return false }
        let given = Array(value.dropFirst(7).utf8)
        let expected = Array(token.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in 0..<expected.count {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}
