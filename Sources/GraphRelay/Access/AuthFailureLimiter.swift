import NIOCore

/// Counts failed AUTH attempts per client network (an IPv4 address, an IPv6 /64) and decides when
/// to stop checking passwords from it. A pure state machine: the caller passes the time.
///
/// - Past ``Configuration/limit`` failures within ``Configuration/window`` the client network is
///   blocked: its AUTH gets `454 4.7.0` without a password check for ``Configuration/initialBlock``,
///   doubling with each further block (exponential back-off) up to ``Configuration/maximumBlock``.
///   After a block one attempt at a time is checked; a failure blocks again, for twice as long. The
///   back-off is forgotten once the network has had a whole window without failures after its block.
/// - Checks in flight count against the budget, so a client cannot start more checks than it has
///   failures left by opening many connections at once.
/// - Failures are also counted per user name, and reported once when one name reaches the limit
///   in a window, but a user name is never blocked: that would let anyone lock a device out of
///   its own account.
/// - At most ``Configuration/maximumClients`` networks are tracked; when the table is full of
///   networks with recent failures, a new network's attempts are checked without being counted
///   (the bounded check pool still caps the cost).
struct AuthFailureLimiter {
    struct Configuration: Sendable {
        /// Failures per client network within ``window`` before it is blocked. Default 10.
        var limit = 10
        /// Default 10 minutes.
        var window: TimeAmount = .minutes(10)
        /// The first block's length. Default 1 minute.
        var initialBlock: TimeAmount = .minutes(1)
        /// The longest block. Default 1 hour.
        var maximumBlock: TimeAmount = .hours(1)
        /// Default 10,000.
        var maximumClients = 10_000
    }

    enum Admission: Equatable {
        /// Check the password; then call ``finished(client:user:failed:now:)``.
        case check
        /// Answer 454 without a check.
        case refuse
    }

    enum Event: Equatable, CustomStringConvertible {
        /// The network was blocked after `failures` failures (or a failure after an earlier block).
        case clientBlocked(client: String, failures: Int, duration: TimeAmount)
        /// `user` (nil: names that are not configured) reached the limit within a window, from
        /// `clients` different client networks. Nothing is blocked because of it.
        case userFailures(user: String?, failures: Int, clients: Int)

        var description: String {
            switch self {
            case .clientBlocked(let client, let failures, let duration):
                "AUTH from \(client) refused for \(duration.nanoseconds / 1_000_000_000) s after \(failures) failed attempt(s)"
            case .userFailures(let user, let failures, let clients):
                "\(failures) failed AUTH attempts for \(user.map { "user '\($0)'" } ?? "user names that are not configured") "
                    + "from \(clients) client network(s) within the window; the user is not locked out"
            }
        }
    }

    private struct Client {
        var failures: [NIODeadline] = []
        var inFlight = 0
        var blockedUntil: NIODeadline?
        /// Blocks in the current episode (the back-off exponent).
        var blocks = 0
        var lastFailure: NIODeadline = .uptimeNanoseconds(0)

        var isIdle: Bool { failures.isEmpty && inFlight == 0 && blocks == 0 }
    }

    private struct User {
        var failures: [(time: NIODeadline, client: String)] = []
        var reported = false
    }

    let configuration: Configuration
    private var clients: [String: Client] = [:]
    private var users: [String?: User] = [:]

    init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Whether a password check from `client` may run now.
    mutating func admit(client key: String, now: NIODeadline) -> Admission {
        guard configuration.limit > 0 else { return .check }
        if clients[key] == nil {
            guard makeRoom(now: now) else { return .check }
            clients[key] = Client()
        }
        var client = clients[key]!
        defer { clients[key] = client }
        refresh(&client, now: now)
        if let until = client.blockedUntil, now < until { return .refuse }
        let budget = client.blocks > 0 ? 1 : configuration.limit - client.failures.count
        guard client.inFlight < budget else { return .refuse }
        client.inFlight += 1
        return .check
    }

    /// A check admitted by ``admit(client:now:)`` finished. `user` is the configured user name
    /// tried, nil for a name that is not configured.
    mutating func finished(client key: String, user: String?, failed: Bool, now: NIODeadline) -> [Event] {
        guard configuration.limit > 0, var client = clients[key] else { return [] }
        client.inFlight = max(0, client.inFlight - 1)
        var events: [Event] = []
        if failed {
            refresh(&client, now: now)
            client.failures.append(now)
            client.lastFailure = now
            if client.failures.count >= configuration.limit || client.blocks > 0 {
                let exponent = min(client.blocks, 30)
                let duration = TimeAmount.nanoseconds(min(
                    configuration.initialBlock.nanoseconds.multipliedReportingOverflow(by: 1 << exponent).partialValue,
                    configuration.maximumBlock.nanoseconds
                ))
                client.blocks += 1
                client.blockedUntil = now + duration
                events.append(.clientBlocked(client: key, failures: client.failures.count, duration: duration))
            }
            events += countUserFailure(user, client: key, now: now)
        }
        clients[key] = client
        return events
    }

    /// Networks currently tracked (for tests).
    var trackedClients: Int { clients.count }

    private func refresh(_ client: inout Client, now: NIODeadline) {
        let horizon = now - configuration.window
        client.failures.removeAll { $0 <= horizon }
        let quietSince = max(client.lastFailure, client.blockedUntil ?? client.lastFailure)
        if client.blocks > 0, now - quietSince >= configuration.window, client.inFlight == 0 {
            client.blocks = 0
            client.blockedUntil = nil
        }
    }

    private mutating func countUserFailure(_ name: String?, client: String, now: NIODeadline) -> [Event] {
        var user = users[name] ?? User()
        let horizon = now - configuration.window
        user.failures.removeAll { $0.time <= horizon }
        user.failures.append((now, client))
        if user.failures.count > configuration.limit * 10 { user.failures.removeFirst(user.failures.count - configuration.limit * 10) }
        var events: [Event] = []
        if user.failures.count < configuration.limit {
            user.reported = false
        } else if !user.reported {
            user.reported = true
            events.append(.userFailures(user: name, failures: user.failures.count, clients: Set(user.failures.map(\.client)).count))
        }
        users[name] = user
        return events
    }

    /// Frees a slot for a new network by dropping idle ones; false when every tracked network has
    /// recent failures, checks in flight or a block.
    private mutating func makeRoom(now: NIODeadline) -> Bool {
        guard clients.count >= configuration.maximumClients else { return true }
        for key in Array(clients.keys) {
            var client = clients[key]!
            refresh(&client, now: now)
            if client.isIdle { clients[key] = nil } else { clients[key] = client }
        }
        return clients.count < configuration.maximumClients
    }
}
