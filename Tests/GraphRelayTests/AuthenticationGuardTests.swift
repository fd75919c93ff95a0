import GraphRelaySMTP
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import GraphRelay

@Suite("AUTH brute-force limits, success cache and bounded checks")
struct AuthenticationGuardTests {
    static let fast = PasswordHash.Algorithm.scrypt(logN: 4, r: 8, p: 1)
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    // MARK: Failure limiter (pure)

    @Test("ten failures within the window block the network; the block doubles with each further failure")
    func limiterBackOff() {
        var limiter = AuthFailureLimiter()
        var events: [AuthFailureLimiter.Event] = []
        for second in 0..<10 {
            let now = t0 + .seconds(Int64(second))
            #expect(limiter.admit(client: "192.0.2.1", now: now) == .check)
            events += limiter.finished(client: "192.0.2.1", user: "printer", failed: true, now: now)
        }
        #expect(events.first == .clientBlocked(client: "192.0.2.1", failures: 10, duration: .minutes(1)))
        // Refused without a check while blocked; another network and another user are untouched.
        #expect(limiter.admit(client: "192.0.2.1", now: t0 + .seconds(30)) == .refuse)
        #expect(limiter.admit(client: "192.0.2.2", now: t0 + .seconds(30)) == .check)
        // After the block: one check at a time; a failure blocks for twice as long, then 4, 8 … minutes.
        var now = t0 + .seconds(70)
        var expected: TimeAmount = .minutes(2)
        for _ in 0..<8 {
            #expect(limiter.admit(client: "192.0.2.1", now: now) == .check)
            #expect(limiter.admit(client: "192.0.2.1", now: now) == .refuse)
            let blocked = limiter.finished(client: "192.0.2.1", user: "printer", failed: true, now: now)
            #expect(blocked.contains(.clientBlocked(client: "192.0.2.1", failures: blocked.isEmpty ? 0 : Self.failures(blocked), duration: expected)))
            #expect(limiter.admit(client: "192.0.2.1", now: now + expected - .seconds(1)) == .refuse)
            now = now + expected + .seconds(1)
            expected = min(expected * 2, .hours(1))
        }
        // A whole window without failures after the last block forgets the back-off.
        now = now + .minutes(11)
        for _ in 0..<9 {
            #expect(limiter.admit(client: "192.0.2.1", now: now) == .check)
            #expect(limiter.finished(client: "192.0.2.1", user: "printer", failed: true, now: now).filter(Self.isBlock).isEmpty)
        }
    }

    @Test("checks in flight count against the budget, so parallel connections cannot exceed it")
    func limiterInFlight() {
        var limiter = AuthFailureLimiter()
        for _ in 0..<10 { #expect(limiter.admit(client: "2001:db8:1:2::/64", now: t0) == .check) }
        #expect(limiter.admit(client: "2001:db8:1:2::/64", now: t0) == .refuse)
        // Successes give the slots back.
        for _ in 0..<10 { _ = limiter.finished(client: "2001:db8:1:2::/64", user: "app", failed: false, now: t0) }
        #expect(limiter.admit(client: "2001:db8:1:2::/64", now: t0) == .check)
    }

    @Test("failures against one user from many networks are reported once and never block the user")
    func limiterUserName() {
        var limiter = AuthFailureLimiter()
        var events: [AuthFailureLimiter.Event] = []
        for index in 0..<30 {
            let client = "198.51.100.\(index)"
            #expect(limiter.admit(client: client, now: t0) == .check)
            events += limiter.finished(client: client, user: "printer", failed: true, now: t0)
        }
        #expect(events == [.userFailures(user: "printer", failures: 10, clients: 10)])
        // The user still gets checks from a new network.
        #expect(limiter.admit(client: "198.51.100.200", now: t0) == .check)
        let unknown = (0..<10).flatMap { index -> [AuthFailureLimiter.Event] in
            _ = limiter.admit(client: "203.0.113.\(index)", now: t0)
            return limiter.finished(client: "203.0.113.\(index)", user: nil, failed: true, now: t0)
        }
        #expect(unknown.map(\.description) == ["10 failed AUTH attempts for user names that are not configured from 10 client network(s) within the window; the user is not locked out"])
    }

    @Test("the table of networks is bounded; idle networks make room, busy ones are not evicted")
    func limiterBounded() {
        var configuration = AuthFailureLimiter.Configuration()
        configuration.maximumClients = 3
        var limiter = AuthFailureLimiter(configuration: configuration)
        for index in 0..<3 {
            _ = limiter.admit(client: "10.0.0.\(index)", now: t0)
            _ = limiter.finished(client: "10.0.0.\(index)", user: nil, failed: true, now: t0)
        }
        #expect(limiter.trackedClients == 3)
        #expect(limiter.admit(client: "10.0.0.9", now: t0) == .check)
        #expect(limiter.trackedClients == 3)
        // Once the failures leave the window the entries are idle and give way.
        #expect(limiter.admit(client: "10.0.0.9", now: t0 + .minutes(11)) == .check)
        #expect(limiter.trackedClients == 1)
    }

    @Test("a limit of 0 turns the limiter off")
    func limiterOff() {
        var configuration = AuthFailureLimiter.Configuration()
        configuration.limit = 0
        var limiter = AuthFailureLimiter(configuration: configuration)
        for _ in 0..<100 {
            #expect(limiter.admit(client: "192.0.2.1", now: t0) == .check)
            #expect(limiter.finished(client: "192.0.2.1", user: nil, failed: true, now: t0).isEmpty)
        }
    }

    // MARK: Success cache

    @Test("the cache holds a keyed MAC per user, expires, and a new cache does not know the old key")
    func cache() {
        var cache = AuthSuccessCache(lifetime: .minutes(10))
        let mac = cache.mac(user: "printer", password: "pw")
        #expect(mac.count == 32)
        #expect(mac != Array("pw".utf8) && !String(decoding: mac, as: UTF8.self).contains("pw"))
        #expect(!cache.contains(user: "printer", mac: mac, now: t0))
        cache.insert(user: "printer", mac: mac, now: t0)
        #expect(cache.contains(user: "printer", mac: mac, now: t0 + .minutes(9)))
        #expect(!cache.contains(user: "printer", mac: cache.mac(user: "printer", password: "pw2"), now: t0))
        #expect(!cache.contains(user: "other", mac: mac, now: t0))
        #expect(!cache.contains(user: "printer", mac: mac, now: t0 + .minutes(10)))
        #expect(cache.count == 1)
        // Another process (or configuration) draws another key.
        #expect(AuthSuccessCache(lifetime: .minutes(10)).mac(user: "printer", password: "pw") != mac)
        var off = AuthSuccessCache(lifetime: .zero)
        off.insert(user: "printer", mac: mac, now: t0)
        #expect(!off.contains(user: "printer", mac: mac, now: t0))
    }

    // MARK: Check pool

    @Test("the check pool runs at most its concurrency, queues up to its limit and refuses beyond")
    func pool() async throws {
        let pool = PasswordCheckPool(concurrency: 1, queueLimit: 2)
        let gate = NIOLockedValueBox(false)
        let started = NIOLockedValueBox(0)
        let body: @Sendable () -> Int = {
            started.withLockedValue { $0 += 1 }
            while !gate.withLockedValue({ $0 }) { usleep(1_000) }
            return 1
        }
        async let first = pool.run(body)
        try await waitUntil { pool.load.running == 1 && started.withLockedValue { $0 } == 1 }
        async let second = pool.run(body)
        async let third = pool.run(body)
        try await waitUntil { pool.load.waiting == 2 }
        #expect(await pool.run(body) == nil)
        gate.withLockedValue { $0 = true }
        #expect(await [first, second, third] == [1, 1, 1])
        #expect(pool.load.running == 0 && pool.load.waiting == 0)
        #expect(started.withLockedValue { $0 } == 3)
    }

    // MARK: Dummy hashes

    @Test("a name that is not configured is checked against a hash with a configured user's parameters")
    func dummyPerParameterSet() throws {
        let scrypt = PasswordHash.Algorithm.scrypt(logN: 5, r: 8, p: 1)
        let pbkdf2 = PasswordHash.Algorithm.pbkdf2SHA256(iterations: 1_000)
        let policy = AccessPolicy(networks: [], users: [
            .init(name: "a", passwordHash: try PasswordHasher.makeHash(password: Array("x".utf8), algorithm: scrypt)),
            .init(name: "b", passwordHash: try PasswordHasher.makeHash(password: Array("y".utf8), algorithm: pbkdf2)),
        ])
        let chosen = Set((0..<64).compactMap { policy.dummyAlgorithm(for: "unknown-\($0)") })
        #expect(chosen == [scrypt, pbkdf2])
        #expect(policy.dummyAlgorithm(for: "unknown-1") == policy.dummyAlgorithm(for: "unknown-1"))
        #expect(policy.dummyAlgorithm(for: "a") == nil)
        #expect(policy.authenticate(username: "unknown-1", password: "x") == nil)
        let single = AccessPolicy(networks: [], users: [.init(name: "a", passwordHash: try PasswordHasher.makeHash(password: Array("x".utf8), algorithm: pbkdf2))])
        #expect(Set((0..<16).compactMap { single.dummyAlgorithm(for: "u\($0)") }) == [pbkdf2])
    }

    // MARK: The authenticator as the SMTP layer sees it

    final class Clock: Sendable {
        let value: NIOLockedValueBox<NIODeadline>
        init(_ start: NIODeadline) { value = NIOLockedValueBox(start) }
        func advance(_ amount: TimeAmount) { value.withLockedValue { $0 = $0 + amount } }
        var now: NIODeadline { value.withLockedValue { $0 } }
    }

    func authenticator(cacheTime: Duration = .seconds(600), clock: Clock, checks: NIOLockedValueBox<Int>? = nil) throws -> RelayAuthenticator {
        let user = RelayConfiguration.User(name: "printer", passwordHash: try PasswordHasher.makeHash(password: Array("pw".utf8), algorithm: Self.fast))
        var access = RelayConfiguration.Access()
        access.users = [user]
        access.authCacheTime = cacheTime
        return RelayAuthenticator(access: AccessPolicy(access), configuration: access, logger: Logger(label: "test"), now: { clock.now })
    }

    func session(_ address: String) -> SMTPSessionInfo {
        SMTPSessionInfo(id: "S", listenerName: "t", clientAddress: address)
    }

    @Test("a brute force from one network is refused after ten failures; another network still logs in")
    func authenticatorBlocks() async throws {
        let clock = Clock(t0)
        let auth = try authenticator(clock: clock)
        for _ in 0..<10 {
            #expect(await auth.authenticate(username: "printer", password: "guess", session: session("2001:db8:1:2::5")) == .failed)
        }
        // Another address in the same /64 is the same client network: refused, even with the right password.
        #expect(await auth.authenticate(username: "printer", password: "pw", session: session("2001:db8:1:2::99")) == .temporarilyUnavailable)
        #expect(await auth.authenticate(username: "printer", password: "pw", session: session("2001:db8:1:3::5")) == .succeeded)
        clock.advance(.seconds(61))
        #expect(await auth.authenticate(username: "printer", password: "pw", session: session("2001:db8:1:2::5")) == .succeeded)
    }

    @Test("a verified password is remembered for authCacheTime; a wrong one never is")
    func authenticatorCache() async throws {
        let clock = Clock(t0)
        let auth = try authenticator(cacheTime: .seconds(600), clock: clock)
        #expect(await auth.authenticate(username: "printer", password: "pw", session: session("192.0.2.1")) == .succeeded)
        // Cached: answered at once, even if the pool could not run a check.
        #expect(await auth.authenticate(username: "printer", password: "pw", session: session("192.0.2.1")) == .succeeded)
        #expect(await auth.authenticate(username: "printer", password: "wrong", session: session("192.0.2.1")) == .failed)
        auth.clearCache()
        #expect(await auth.authenticate(username: "printer", password: "pw", session: session("192.0.2.1")) == .succeeded)
    }

    @Test("a full check queue answers 454 instead of queueing without bound")
    func authenticatorQueueFull() async throws {
        let pool = PasswordCheckPool(concurrency: 1, queueLimit: 0)
        let user = RelayConfiguration.User(name: "printer", passwordHash: try PasswordHasher.makeHash(password: Array("pw".utf8), algorithm: Self.fast))
        var access = RelayConfiguration.Access()
        access.users = [user]
        let auth = RelayAuthenticator(access: AccessPolicy(access), configuration: access, pool: pool, logger: Logger(label: "test"))
        // Another check holds the only slot.
        let gate = NIOLockedValueBox(false)
        async let occupying = pool.run { while !gate.withLockedValue({ $0 }) { usleep(1_000) }; return true }
        try await waitUntil { pool.load.running == 1 }
        #expect(await auth.authenticate(username: "printer", password: "pw", session: session("192.0.2.2")) == .temporarilyUnavailable)
        // Not counted as a failure, and not cached: once the slot is free the same login is checked and succeeds.
        gate.withLockedValue { $0 = true }
        #expect(await occupying == true)
        #expect(await auth.authenticate(username: "printer", password: "pw", session: session("192.0.2.2")) == .succeeded)
    }

    private static func failures(_ events: [AuthFailureLimiter.Event]) -> Int {
        for case .clientBlocked(_, let failures, _) in events { return failures }
        return 0
    }

    private static func isBlock(_ event: AuthFailureLimiter.Event) -> Bool {
        if case .clientBlocked = event { return true }
        return false
    }

    private func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        for _ in 0..<2_000 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("condition not met within 10 s")
    }
}
