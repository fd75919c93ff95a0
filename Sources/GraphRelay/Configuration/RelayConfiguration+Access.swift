extension RelayConfiguration {
    /// `access`: who may relay.
    public struct Access: Sendable, Hashable {
        /// `access.networks`: CIDR blocks (IPv4/IPv6) whose clients may relay without AUTH.
        /// Default none.
        public var networks: [CIDRBlock] = []
        /// `access.users`: SMTP AUTH accounts. Default none.
        public var users: [User] = []
        /// `access.authFailureLimit`: failed AUTH attempts from one client network (an IPv4
        /// address, an IPv6 /64) within ``authFailureWindow`` before its AUTH is answered
        /// `454 4.7.0` without a password check, for 1 minute doubling with each further failure
        /// up to 1 hour. 0 turns the limit off. Default 10.
        public var authFailureLimit: Int = 10
        /// `access.authFailureWindow`: the window ``authFailureLimit`` counts in. Default 10 minutes.
        public var authFailureWindow: Duration = .seconds(600)
        /// `access.authCacheTime`: how long a successful password check is remembered (in memory,
        /// as a keyed MAC of the password), so a device that logs in for every message does not
        /// pay a full hash each time. 0 turns the cache off. Default 10 minutes.
        public var authCacheTime: Duration = .seconds(600)

        public init() {}
    }

    /// `access.users[]`.
    public struct User: Sendable, Hashable {
        /// `name`: the AUTH user name (compared exactly). Required, unique.
        public var name: String
        /// `passwordHash`: from `graph-relay hash-password` (literal, `{ env: }` or `{ file: }`).
        /// Required.
        public var passwordHash: PasswordHash
        /// `allowedSenders`: envelope-sender patterns this user may use (`*@contoso.com`,
        /// `scanner@contoso.com`, `*`, `<>`). Default: any sender.
        public var allowedSenders: [SenderPattern]?

        public init(name: String, passwordHash: PasswordHash, allowedSenders: [SenderPattern]? = nil) {
            self.name = name
            self.passwordHash = passwordHash
            self.allowedSenders = allowedSenders
        }
    }
}
