/// Chooses the application and mailbox for a message from the ordered `routes`.
///
/// The first route applies whose `sender` pattern matches the envelope sender and whose optional
/// narrowing holds: `authenticatedUser` (the session authenticated as one of these users) and
/// `clientNetworks` (the client address is in one of these blocks).
///
/// The null sender `<>` (bounces, some devices' test messages) is matched only by routes with
/// `sender: '<>'` or `sender: '*'`, and a route whose `mailbox` is `sender` is skipped for it —
/// there is no address to send as — so the search continues with the next route. Without a
/// fitting route the result is ``RoutingDecision/noRoute(reason:)``.
public struct Router: Sendable {
    public let routes: [RelayConfiguration.Route]

    public init(routes: [RelayConfiguration.Route]) {
        self.routes = routes
    }

    public init(configuration: RelayConfiguration) {
        self.init(routes: configuration.routes)
    }

    /// The routing decision for a message.
    ///
    /// - Parameters:
    ///   - sender: the envelope sender.
    ///   - authenticatedUser: the AUTH user of the session, if any.
    ///   - client: the client address, if known.
    public func route(sender: EnvelopeSender, authenticatedUser: String?, client: IPAddress?) -> RoutingDecision {
        var skippedForNullSender: [Int] = []
        for (index, route) in routes.enumerated() {
            guard route.sender.matches(sender) else { continue }
            if let users = route.authenticatedUsers {
                guard let authenticatedUser, users.contains(authenticatedUser) else { continue }
            }
            if let networks = route.clientNetworks {
                guard let client, networks.contains(where: { $0.contains(client) }) else { continue }
            }
            let mailbox: String
            switch route.mailbox {
            case .address(let address):
                mailbox = address
            case .sender:
                guard let address = sender.address else {
                    skippedForNullSender.append(index)
                    continue
                }
                mailbox = address
            }
            return .routed(RouteMatch(
                routeIndex: index, senderPattern: route.sender, application: route.application,
                mailbox: mailbox, rewriteFrom: route.rewriteFrom, requireHeaderFromMatch: route.requireHeaderFromMatch
            ))
        }
        var reason = "no route matches sender \(sender)"
        if authenticatedUser != nil || client != nil {
            var parts: [String] = []
            if let authenticatedUser { parts.append("user '\(authenticatedUser)'") }
            if let client { parts.append("client \(client)") }
            reason += " (\(parts.joined(separator: ", ")))"
        }
        if !skippedForNullSender.isEmpty {
            let list = skippedForNullSender.map { "routes[\($0)]" }.joined(separator: ", ")
            reason += "; \(list) use mailbox 'sender', which cannot send for the null sender"
        }
        return .noRoute(reason: reason)
    }
}
