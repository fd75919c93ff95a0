import Testing
@testable import GraphRelay

@Suite("Routing")
struct RoutingTests {
    func route(_ sender: String, _ application: String, _ mailbox: RelayConfiguration.MailboxSelection,
               rewriteFrom: Bool = false, users: [String]? = nil, networks: [String]? = nil) throws -> RelayConfiguration.Route {
        var route = RelayConfiguration.Route(sender: try SenderPattern(parsing: sender), application: application,
                                             mailbox: mailbox, rewriteFrom: rewriteFrom)
        route.authenticatedUsers = users
        route.clientNetworks = try networks?.map { try CIDRBlock(parsing: $0) }
        return route
    }

    func router() throws -> Router {
        Router(routes: [
            try route("scanner@contoso.com", "contoso", .address("scanner@contoso.com")),
            try route("*@contoso.com", "contoso", .sender, users: ["app"]),
            try route("*@contoso.com", "contoso", .address("relay@contoso.com"), networks: ["10.0.0.0/8"]),
            try route("*@contoso.com", "contoso", .sender),
            try route("<>", "contoso", .address("postmaster@contoso.com")),
            try route("*@fabrikam.com", "fabrikam", .sender),
            try route("*", "contoso", .address("noreply@contoso.com"), rewriteFrom: true),
        ])
    }

    @Test("first match wins: exact before domain")
    func order() throws {
        let decision = try router().route(sender: EnvelopeSender("Scanner@Contoso.com"), authenticatedUser: nil, client: nil)
        #expect(decision.match == RouteMatch(routeIndex: 0, senderPattern: try SenderPattern(parsing: "scanner@contoso.com"),
                                             application: "contoso", mailbox: "scanner@contoso.com", rewriteFrom: false))
    }

    @Test("narrowing by authenticated user and by client network")
    func narrowing() throws {
        let router = try router()
        let alice = EnvelopeSender("alice@contoso.com")
        #expect(router.route(sender: alice, authenticatedUser: "app", client: IPAddress("10.1.1.1")).routeIndex == 1)
        #expect(router.route(sender: alice, authenticatedUser: "printer", client: IPAddress("10.1.1.1")).routeIndex == 2)
        #expect(router.route(sender: alice, authenticatedUser: nil, client: IPAddress("::ffff:10.1.1.1")).mailbox == "relay@contoso.com")
        let fallback = router.route(sender: alice, authenticatedUser: nil, client: IPAddress("192.0.2.1"))
        #expect(fallback.routeIndex == 3)
        #expect(fallback.mailbox == "alice@contoso.com")
    }

    @Test("mailbox 'sender' sends as the envelope sender as given")
    func senderMailbox() throws {
        #expect(try router().route(sender: EnvelopeSender("Bob@Fabrikam.com"), authenticatedUser: nil, client: nil).mailbox == "Bob@Fabrikam.com")
    }

    @Test("catch-all with rewriteFrom")
    func catchAll() throws {
        let match = try router().route(sender: EnvelopeSender("scanner@printer.local"), authenticatedUser: nil, client: nil)
        #expect(match.routeIndex == 6)
        #expect(match.rewriteFrom == true)
        #expect(match.mailbox == "noreply@contoso.com")
        #expect(match.description == "routes[6] (sender '*'): application contoso, mailbox noreply@contoso.com, rewriteFrom true")
    }

    @Test("null sender: matched by '<>' and '*' routes only, 'sender' mailboxes skipped")
    func nullSender() throws {
        #expect(try router().route(sender: .null, authenticatedUser: nil, client: nil).mailbox == "postmaster@contoso.com")
        let onlySender = Router(routes: [try route("*", "contoso", .sender), try route("*@contoso.com", "contoso", .address("x@contoso.com"))])
        let decision = onlySender.route(sender: .null, authenticatedUser: nil, client: nil)
        guard case .noRoute(let reason) = decision else {
            Issue.record("expected no route, got \(decision)")
            return
        }
        #expect(reason == "no route matches sender <>; routes[0] use mailbox 'sender', which cannot send for the null sender")
        #expect(decision.rejection == PolicyReply(code: 550, enhancedCode: "5.7.1", text: "No route for this sender"))
        let withCatchAll = Router(routes: [try route("*", "contoso", .sender), try route("*", "contoso", .address("n@contoso.com"))])
        #expect(withCatchAll.route(sender: .null, authenticatedUser: nil, client: nil).routeIndex == 1)
    }

    @Test("no route: a clear reason naming sender, user and client")
    func noRoute() throws {
        let router = Router(routes: [try route("*@contoso.com", "contoso", .sender)])
        let decision = router.route(sender: EnvelopeSender("x@fabrikam.com"), authenticatedUser: "printer", client: IPAddress("192.0.2.9"))
        #expect(decision == .noRoute(reason: "no route matches sender <x@fabrikam.com> (user 'printer', client 192.0.2.9)"))
        #expect(decision.match == nil)
        #expect(decision.description.hasPrefix("no route: "))
    }
}

extension RoutingDecision {
    /// Shorthand for tests.
    var routeIndex: Int? { match?.routeIndex }
    var mailbox: String? { match?.mailbox }
    var rewriteFrom: Bool? { match?.rewriteFrom }
}

