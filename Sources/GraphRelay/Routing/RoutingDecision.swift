/// The outcome of ``Router/route(sender:authenticatedUser:client:)``.
public enum RoutingDecision: Sendable, Hashable, CustomStringConvertible {
    /// Deliver through this application as this mailbox.
    case routed(RouteMatch)
    /// No route applies; the reason is for the log. Reply with ``rejection`` (550 5.7.1).
    case noRoute(reason: String)

    /// The match, if routed.
    public var match: RouteMatch? {
        if case .routed(let match) = self { return match }
        return nil
    }

    /// `550 5.7.1 No route for this sender` for ``noRoute(reason:)``, `nil` when routed.
    public var rejection: PolicyReply? {
        guard case .noRoute = self else { return nil }
        return PolicyReply(code: 550, enhancedCode: "5.7.1", text: "No route for this sender")
    }

    public var description: String {
        switch self {
        case .routed(let match): match.description
        case .noRoute(let reason): "no route: \(reason)"
        }
    }
}

/// A matched route.
public struct RouteMatch: Sendable, Hashable, CustomStringConvertible {
    /// Position of the route in `routes` (0-based, as in `routes[1]`).
    public let routeIndex: Int
    /// The route's sender pattern (for the log).
    public let senderPattern: SenderPattern
    /// The application to send through.
    public let application: String
    /// The Graph mailbox to send as (`POST /users/{mailbox}/sendMail`).
    public let mailbox: String
    /// Rewrite `From:` to ``mailbox``.
    public let rewriteFrom: Bool
    /// Refuse a message whose `From:` (after the rewrite) is not the envelope sender: the route's
    /// option, or the listener's (set by the relay policy for the session's listener).
    public var requireHeaderFromMatch: Bool

    public init(routeIndex: Int, senderPattern: SenderPattern, application: String, mailbox: String, rewriteFrom: Bool,
                requireHeaderFromMatch: Bool = false) {
        self.routeIndex = routeIndex
        self.senderPattern = senderPattern
        self.application = application
        self.mailbox = mailbox
        self.rewriteFrom = rewriteFrom
        self.requireHeaderFromMatch = requireHeaderFromMatch
    }

    /// `routes[1] (sender '*@contoso.com'): application contoso, mailbox alice@contoso.com, rewriteFrom false`
    public var description: String {
        "routes[\(routeIndex)] (sender '\(senderPattern)'): application \(application), mailbox \(mailbox), rewriteFrom \(rewriteFrom)"
    }
}
