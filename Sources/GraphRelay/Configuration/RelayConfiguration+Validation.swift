/// Where the loaded items came from, so problems found after loading name the right index even
/// when earlier items were dropped as invalid. Internal.
struct ValidationContext {
    /// `true` when loading a file (the fields below are filled in); `false` for `validate()` on
    /// a configuration built in code (indices and names come from the model itself).
    var fromFile = false
    var tlsDeclared = false
    var listenerIndices: [Int] = []
    var userIndices: [Int] = []
    var applicationIndices: [Int] = []
    var routeIndices: [Int] = []
    /// Names declared in the file, including those of entries that failed to load (so a route
    /// naming a broken application is not reported twice).
    var declaredApplications: [String] = []
    var declaredUsers: [String] = []
    /// Items present in the file's lists (valid or not).
    var listenerItems = 0
    var applicationItems = 0
    var routeItems = 0
    var userItems = 0
    var networkItems = 0
    /// The section was present but not a list (already reported).
    var applicationsReported = false
    var routesReported = false
    /// `smtp.maxMessageSize` was in the file (else its default depends on `graph.sendVia`).
    var maxMessageSizeGiven = false

    func listener(_ index: Int) -> Int { Self.source(listenerIndices, index, fromFile) }
    func user(_ index: Int) -> Int { Self.source(userIndices, index, fromFile) }
    func application(_ index: Int) -> Int { Self.source(applicationIndices, index, fromFile) }
    func route(_ index: Int) -> Int { Self.source(routeIndices, index, fromFile) }

    /// The file's index of the model's `index`-th item (the same index for defaults and for
    /// configurations built in code).
    private static func source(_ indices: [Int], _ index: Int, _ fromFile: Bool) -> Int {
        fromFile && indices.indices.contains(index) ? indices[index] : index
    }
}

extension RelayConfiguration {
    /// Problems found by ``validate()``: errors make the configuration unusable, warnings are
    /// worth a look.
    public struct ValidationReport: Sendable, Hashable {
        public var errors: [ConfigurationIssue] = []
        public var warnings: [ConfigurationIssue] = []
    }

    /// Cross-checks the whole configuration (references between sections, uniqueness, ranges,
    /// reachability of routes). Loading runs it; call it for configurations built in code.
    public func validate() -> ValidationReport {
        validate(context: ValidationContext())
    }

    func validate(context: ValidationContext) -> ValidationReport {
        var report = ValidationReport()
        func error(_ path: String, _ message: String) { report.errors.append(ConfigurationIssue(path: path, message: message)) }
        func warning(_ path: String, _ message: String) { report.warnings.append(ConfigurationIssue(path: path, message: message)) }

        // smtp
        if smtp.listeners.isEmpty && context.listenerItems == 0 {
            error("smtp.listeners", "at least one listener is required")
        }
        var seenAddresses: [ListenAddress: Int] = [:]
        for (position, listener) in smtp.listeners.enumerated() {
            let index = context.listener(position)
            let path = "smtp.listeners[\(index)]"
            if let first = seenAddresses[listener.address] {
                error("\(path).address", "\(listener.address) is already used by smtp.listeners[\(first)]")
            } else {
                seenAddresses[listener.address] = index
            }
            if listener.tls != .none && tls == nil && !context.tlsDeclared {
                error("\(path).tls", "'\(listener.tls.rawValue)' needs the tls section (tls.certificate and tls.privateKey)")
            }
            if listener.requireTLS && listener.tls == .none {
                error("\(path).requireTLS", "cannot require TLS on a 'tls: none' listener; use tls: starttls")
            }
            if listener.allowLegacyProtocols && listener.tls == .none {
                error("\(path).allowLegacyProtocols", "a 'tls: none' listener has no TLS to allow legacy protocols for; use tls: starttls or implicit")
            }
        }
        if tls != nil && !smtp.listeners.isEmpty && smtp.listeners.allSatisfy({ $0.tls == .none }) {
            warning("tls", "no listener uses TLS (all are 'tls: none'); the certificate is not used")
        }
        if let tls, tls.allowLegacyProtocols, smtp.listeners.count > 1 {
            warning("tls.allowLegacyProtocols", "lowers the protocol and cipher floor of every listener; set allowLegacyProtocols: true "
                + "on the listener the old devices use (smtp.listeners[].allowLegacyProtocols) and keep the others modern")
        }
        if smtp.maxMessageSize <= 0 { error("smtp.maxMessageSize", "must be positive") }
        if graph.sendVia == .sendMail && smtp.maxMessageSize > Self.sendMailMessageSizeLimit {
            error("smtp.maxMessageSize", "\(smtp.maxMessageSize) bytes cannot be sent with graph.sendVia: sendMail, whose one request carries at most "
                + "\(Self.sendMailMessageSizeLimit) bytes of message (4 MB after base64, with room for the fields the relay adds); "
                + "lower it to 3MB or use graph.sendVia: auto (drafts and upload sessions for larger messages)")
        }
        if smtp.maxRecipients <= 0 { error("smtp.maxRecipients", "must be positive") }

        // access
        var userNames: [String: Int] = [:]
        for (position, user) in access.users.enumerated() {
            let index = context.user(position)
            if let first = userNames[user.name] {
                error("access.users[\(index)].name", "duplicate user '\(user.name)' (also access.users[\(first)])")
            } else {
                userNames[user.name] = index
            }
        }
        if access.networks.isEmpty && access.users.isEmpty && context.userItems == 0 && context.networkItems == 0 {
            error("access", "neither access.networks nor access.users is configured, so no client could relay")
        }
        for (index, block) in access.networks.enumerated() where block.prefixLength == 0 {
            warning("access.networks[\(index)]", "\(block) lets every client relay without authentication (an open relay)")
        }
        let authPossible = smtp.listeners.contains { $0.tls != .none || $0.allowPlaintextAuth }
        if !access.users.isEmpty && !authPossible {
            warning("access.users", "no listener offers AUTH (all are 'tls: none' without allowPlaintextAuth), so these users cannot log in")
        }

        // applications
        if applications.isEmpty && context.applicationItems == 0 && !context.applicationsReported {
            error("applications", "at least one application is required")
        }
        var applicationNames: [String: Int] = [:]
        for (position, application) in applications.enumerated() {
            let index = context.application(position)
            if let first = applicationNames[application.name] {
                error("applications[\(index)].name", "duplicate application '\(application.name)' (also applications[\(first)])")
            } else {
                applicationNames[application.name] = index
            }
        }

        // routes
        if routes.isEmpty && context.routeItems == 0 && !context.routesReported {
            error("routes", "at least one route is required")
        }
        let knownApplications = context.fromFile ? context.declaredApplications : applications.map(\.name)
        let knownUsers = context.fromFile ? context.declaredUsers : access.users.map(\.name)
        for (position, route) in routes.enumerated() {
            let index = context.route(position)
            let path = "routes[\(index)]"
            if !knownApplications.contains(route.application) {
                let known = knownApplications.isEmpty ? "none defined" : "known: \(knownApplications.joined(separator: ", "))"
                error("\(path).application", "unknown application '\(route.application)' (\(known))")
            }
            for user in route.authenticatedUsers ?? [] where !knownUsers.contains(user) {
                let known = knownUsers.isEmpty ? "none defined" : "known: \(knownUsers.joined(separator: ", "))"
                error("\(path).authenticatedUser", "unknown user '\(user)' (\(known))")
            }
            if route.sender == .nullSender && route.mailbox == .sender {
                error("\(path).mailbox", "'sender' cannot be used for the null sender '<>' (there is no address to send as); name a mailbox")
            }
            // Unreachable: an earlier unnarrowed route already catches every sender this one matches.
            if let earlier = routes[..<position].firstIndex(where: { $0.isUnnarrowed && Self.pattern($0.sender, covers: route.sender) && !($0.mailbox == .sender && route.sender == .nullSender) }) {
                warning(path, "can never match: routes[\(context.route(earlier))] (sender '\(routes[earlier].sender)') matches every sender it would")
            }
        }

        senderAuthorizationWarnings(context: context, warning: warning)

        // spool, scheduler, bounces
        let retry = spool.retry
        if retry.initial > retry.maximum {
            error("spool.retry.maximum", "\(ConfigurationValue.format(retry.maximum)) is less than spool.retry.initial (\(ConfigurationValue.format(retry.initial)))")
        }
        if retry.maximum > retry.lifetime {
            error("spool.retry.lifetime", "\(ConfigurationValue.format(retry.lifetime)) is less than spool.retry.maximum (\(ConfigurationValue.format(retry.maximum)))")
        }
        if !(1...4).contains(scheduler.concurrencyPerMailbox) {
            error("scheduler.concurrencyPerMailbox", "must be between 1 and 4 (Graph allows 4 concurrent requests per mailbox)")
        }
        if scheduler.messagesPerMinute < 1 {
            error("scheduler.messagesPerMinute", "must be at least 1")
        }
        if let admin = bounces.adminAddress, !MailAddress.isValidAddrSpec(admin) {
            error("bounces.adminAddress", "'\(admin)' is not an email address")
        }
        return report
    }

    /// `mailbox: sender` sends as whoever the client claims: warn where an unauthenticated client
    /// from `access.networks`, or a user without `allowedSenders`, can claim any address of a
    /// pattern. A route for one exact address is deliberate and not reported.
    private func senderAuthorizationWarnings(context: ValidationContext, warning: (String, String) -> Void) {
        for (position, route) in routes.enumerated() {
            let path = "routes[\(context.route(position))]"
            if route.requireHeaderFromMatch && route.rewriteFrom, case .address(let mailbox) = route.mailbox {
                warning("\(path).requireHeaderFromMatch", "with rewriteFrom the From: header becomes \(mailbox), so every message "
                    + "whose envelope sender is another address is refused")
            }
            guard route.mailbox == .sender else { continue }
            switch route.sender {
            case .address, .nullSender: continue
            default: break
            }
            let networks = access.networks.filter { block in
                route.clientNetworks?.contains { $0.contains(block.network) || block.contains($0.network) } ?? true
            }
            if route.authenticatedUsers == nil, !networks.isEmpty {
                warning("\(path).mailbox", "'sender' sends as any address matching '\(route.sender)' that an unauthenticated client in "
                    + "\(networks.map(\.description).joined(separator: ", ")) claims; narrow the route with authenticatedUser "
                    + "(users with allowedSenders), or send as a fixed mailbox")
            }
            let unrestricted = access.users.filter { user in
                user.allowedSenders == nil && (route.authenticatedUsers?.contains(user.name) ?? true)
            }
            if !unrestricted.isEmpty {
                warning("\(path).mailbox", "'sender' lets \(unrestricted.map { "'\($0.name)'" }.joined(separator: ", ")) send as any address "
                    + "matching '\(route.sender)' (no allowedSenders); give each user allowedSenders")
            }
        }
    }

    /// Whether every sender `later` matches is matched by `earlier`.
    static func pattern(_ earlier: SenderPattern, covers later: SenderPattern) -> Bool {
        switch (earlier, later) {
        case (.any, _):
            return true
        case (let lhs, let rhs) where lhs == rhs:
            return true
        case (.domain(let domain), .address(let address)):
            return MailAddress.domain(ofCanonical: address) == domain
        case (.subdomains(let parent), .domain(let domain)):
            return domain.hasSuffix("." + parent)
        case (.subdomains(let parent), .subdomains(let child)):
            return child.hasSuffix("." + parent)
        case (.subdomains(let parent), .address(let address)):
            return MailAddress.domain(ofCanonical: address)?.hasSuffix("." + parent) == true
        default:
            return false
        }
    }
}
