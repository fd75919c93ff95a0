import GraphRelayGraph
import GraphRelayMIME

/// What `GET /readyz` answers: every check, and ready only when all pass.
public struct ReadinessReport: Sendable, Equatable {
    public struct Check: Sendable, Equatable {
        /// `listeners`, `spool`, or `token:<application>`.
        public var name: String
        public var ok: Bool
        /// What was found; for a failing token, Entra's reason and what to fix.
        public var detail: String
        /// Entra's AADSTS code for a failing token, when it gave one.
        public var aadstsCode: Int?

        public init(name: String, ok: Bool, detail: String, aadstsCode: Int? = nil) {
            self.name = name
            self.ok = ok
            self.detail = detail
            self.aadstsCode = aadstsCode
        }
    }

    public var checks: [Check]

    public var isReady: Bool { checks.allSatisfy(\.ok) }

    /// `{"ready":false,"checks":[{"name":"token:contoso","ok":false,"detail":"…","aadsts":7000215},…]}`
    public var json: String {
        let items = checks.map { check in
            var item = "{\"name\":\(JSONString.quote(check.name)),\"ok\":\(check.ok),\"detail\":\(JSONString.quote(check.detail))"
            if let code = check.aadstsCode { item += ",\"aadsts\":\(code)" }
            return item + "}"
        }
        return "{\"ready\":\(isReady),\"checks\":[" + items.joined(separator: ",") + "]}\n"
    }
}
