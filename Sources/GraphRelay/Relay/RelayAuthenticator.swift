import GraphRelaySMTP
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// AUTH PLAIN/LOGIN against `access.users`, guarded against brute force and against its own cost.
///
/// In order, for each attempt:
/// 1. a client network over `access.authFailureLimit` gets `454 4.7.0` without a check
///    (``AuthFailureLimiter``: exponential back-off, logged once per block);
/// 2. a password verified within `access.authCacheTime` is accepted from the cache
///    (``AuthSuccessCache``: a keyed MAC, never the password);
/// 3. otherwise the scrypt/PBKDF2 check runs on the bounded ``PasswordCheckPool``; when its queue
///    is full the answer is `454 4.7.0`.
///
/// One authenticator per configuration: a reloaded configuration gets a new one, with an empty cache.
final class RelayAuthenticator: SMTPAuthenticator {
    let access: AccessPolicy
    private let pool: PasswordCheckPool
    private let logger: Logger
    private let now: @Sendable () -> NIODeadline
    private let state: NIOLockedValueBox<State>

    private struct State {
        var limiter: AuthFailureLimiter
        var cache: AuthSuccessCache
        var lastBusyWarning: NIODeadline?
    }

    init(
        access: AccessPolicy,
        configuration: RelayConfiguration.Access,
        pool: PasswordCheckPool = PasswordCheckPool(),
        logger: Logger,
        now: @escaping @Sendable () -> NIODeadline = { .now() }
    ) {
        self.access = access
        self.pool = pool
        self.logger = logger
        self.now = now
        var limits = AuthFailureLimiter.Configuration()
        limits.limit = configuration.authFailureLimit
        limits.window = TimeAmount(configuration.authFailureWindow)
        state = NIOLockedValueBox(State(
            limiter: AuthFailureLimiter(configuration: limits),
            cache: AuthSuccessCache(lifetime: TimeAmount(configuration.authCacheTime))
        ))
    }

    func authenticate(username: String, password: String, session: SMTPSessionInfo) async -> SMTPAuthenticationResult {
        let client = SMTPClientNetwork.key(for: try? SocketAddress(ipAddress: session.clientAddress, port: 0))
        let configuredUser = access.user(named: username)?.name
        let mac = state.withLockedValue { $0.cache }.mac(user: username, password: password)
        let start = now()
        let admitted = state.withLockedValue { state -> (AuthFailureLimiter.Admission, cached: Bool) in
            let admission = state.limiter.admit(client: client, now: start)
            guard admission == .check, configuredUser != nil, state.cache.contains(user: username, mac: mac, now: start) else {
                return (admission, false)
            }
            _ = state.limiter.finished(client: client, user: configuredUser, failed: false, now: start)
            return (admission, true)
        }
        if admitted.0 == .refuse { return .temporarilyUnavailable }
        if admitted.cached { return .succeeded }

        let access = self.access
        let checked = await pool.run { access.authenticate(username: username, password: password) != nil }
        let finish = now()
        let events = state.withLockedValue { state -> [AuthFailureLimiter.Event] in
            if checked == true { state.cache.insert(user: username, mac: mac, now: finish) }
            return state.limiter.finished(client: client, user: configuredUser, failed: checked == false, now: finish)
        }
        for event in events {
            logger.warning("\(event)", metadata: ["smtp.client": "\(session.clientAddress)"])
        }
        switch checked {
        case true?: return .succeeded
        case false?: return .failed
        case nil:
            let warn = state.withLockedValue { state -> Bool in
                guard state.lastBusyWarning.map({ finish - $0 >= .minutes(1) }) ?? true else { return false }
                state.lastBusyWarning = finish
                return true
            }
            if warn {
                logger.warning("AUTH answered 454: every password check slot is busy (logged at most once a minute)", metadata: [
                    "smtp.client": "\(session.clientAddress)", "relay.authQueue": "\(pool.queueLimit)",
                ])
            }
            return .temporarilyUnavailable
        }
    }

    /// Forgets every remembered successful check.
    func clearCache() {
        state.withLockedValue { $0.cache.removeAll() }
    }
}
