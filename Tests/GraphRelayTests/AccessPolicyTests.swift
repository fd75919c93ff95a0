import Testing
@testable import GraphRelay

@Suite("Access policy and sender patterns")
struct AccessPolicyTests {
    static let fast = PasswordHash.Algorithm.scrypt(logN: 4, r: 8, p: 1)

    func policy() throws -> AccessPolicy {
        let printer = RelayConfiguration.User(
            name: "printer",
            passwordHash: try PasswordHasher.makeHash(password: Array("printer-pw".utf8), algorithm: Self.fast),
            allowedSenders: [try SenderPattern(parsing: "*@contoso.com"), try SenderPattern(parsing: "<>")])
        let app = RelayConfiguration.User(
            name: "app",
            passwordHash: try PasswordHasher.makeHash(password: Array("app-pw".utf8), algorithm: Self.fast))
        return AccessPolicy(networks: [try CIDRBlock(parsing: "10.0.0.0/8"), try CIDRBlock(parsing: "2001:db8::/32")],
                            users: [printer, app])
    }

    @Test("sender patterns: *, <>, *@domain, *@*.domain, exact; case-insensitive")
    func patterns() throws {
        let any = try SenderPattern(parsing: "*")
        let null = try SenderPattern(parsing: "<>")
        let domain = try SenderPattern(parsing: "*@Contoso.com")
        let sub = try SenderPattern(parsing: "*@*.contoso.com")
        let exact = try SenderPattern(parsing: "Scanner@contoso.com")
        let alice = EnvelopeSender("<ALICE@contoso.COM>")
        let eu = EnvelopeSender("bob@eu.contoso.com")
        #expect(any.matches(alice) && any.matches(.null))
        #expect(null.matches(.null) && !null.matches(alice))
        #expect(domain.matches(alice) && !domain.matches(eu) && !domain.matches(.null))
        #expect(sub.matches(eu) && !sub.matches(alice))
        #expect(exact.matches(EnvelopeSender("scanner@CONTOSO.com")) && !exact.matches(alice))
        #expect(try SenderPattern(parsing: "\"scanner\"@contoso.com").matches(EnvelopeSender("scanner@contoso.com")))
        #expect(!domain.matches(EnvelopeSender("alice@notcontoso.com")))
    }

    @Test("bad sender patterns are refused with a reason")
    func badPatterns() {
        for (text, expected) in [("", "empty"), ("contoso.com", "not a sender pattern"), ("a*@contoso.com", "only '*' alone"),
                                 ("*@", "invalid domain"), ("a@*.contoso.com", "wildcard domain"), ("*@con toso.com", "invalid domain")] {
            #expect(throws: SenderPattern.ParseError.self, "\(text)") { try SenderPattern(parsing: text) }
            do { _ = try SenderPattern(parsing: text) } catch { #expect(error.description.contains(expected), "\(text): \(error)") }
        }
    }

    @Test("envelope sender forms")
    func envelopeSender() {
        #expect(EnvelopeSender("") == .null)
        #expect(EnvelopeSender("<>") == .null)
        #expect(EnvelopeSender(" <a@b.c> ") == .address("a@b.c"))
        #expect(EnvelopeSender("a@b.c").description == "<a@b.c>")
        #expect(EnvelopeSender.null.description == "<>")
        #expect(EnvelopeSender("\"A B\"@X.Y").canonicalAddress == "a b@x.y")
    }

    @Test("trusted network relays any sender without AUTH; IPv4-mapped clients too")
    func trusted() throws {
        let policy = try policy()
        #expect(policy.checkSender(EnvelopeSender("x@anywhere.org"), client: IPAddress("10.2.3.4"), authenticatedUser: nil)
            == .allowed(.trustedNetwork(try CIDRBlock(parsing: "10.0.0.0/8"))))
        #expect(policy.checkSender(.null, client: IPAddress("::ffff:10.2.3.4"), authenticatedUser: nil).isAllowed)
        #expect(policy.checkSender(.null, client: IPAddress("2001:db8::7"), authenticatedUser: nil).isAllowed)
    }

    @Test("unauthenticated outsider gets 530 5.7.0")
    func outsider() throws {
        let decision = try policy().checkSender(EnvelopeSender("a@contoso.com"), client: IPAddress("192.0.2.1"), authenticatedUser: nil)
        #expect(decision == .denied(PolicyReply(code: 530, enhancedCode: "5.7.0", text: "Authentication required")))
        #expect(try policy().checkSender(.null, client: nil, authenticatedUser: nil) == .denied(.authenticationRequired))
    }

    @Test("authenticated user: allowed senders decide, even from a trusted network; 553 5.7.1 otherwise")
    func authenticated() throws {
        let policy = try policy()
        #expect(policy.checkSender(EnvelopeSender("scan@contoso.com"), client: IPAddress("192.0.2.1"), authenticatedUser: "printer")
            == .allowed(.authenticatedUser("printer")))
        #expect(policy.checkSender(.null, client: nil, authenticatedUser: "printer").isAllowed)
        let denied = policy.checkSender(EnvelopeSender("ceo@fabrikam.com"), client: IPAddress("10.0.0.1"), authenticatedUser: "printer")
        #expect(denied == .denied(PolicyReply(code: 553, enhancedCode: "5.7.1",
                                              text: "Sender address <ceo@fabrikam.com> not allowed for user printer")))
        #expect(policy.checkSender(EnvelopeSender("ceo@fabrikam.com"), client: nil, authenticatedUser: "app").isAllowed)
        #expect(policy.checkSender(EnvelopeSender("a@contoso.com"), client: nil, authenticatedUser: "ghost") == .denied(.authenticationRequired))
    }

    @Test("authentication: right password, wrong password, unknown user")
    func authenticate() throws {
        let policy = try policy()
        #expect(policy.authenticate(username: "printer", password: "printer-pw")?.name == "printer")
        #expect(policy.authenticate(username: "printer", password: "app-pw") == nil)
        #expect(policy.authenticate(username: "Printer", password: "printer-pw") == nil)
        #expect(policy.authenticate(username: "nobody", password: "x") == nil)
        #expect(policy.hasUsers)
        #expect(policy.user(named: "app") != nil)
    }
}
