extension RelayConfiguration {
    /// `access`: who may relay.
    public struct Access: Sendable, Hashable {
        /// `access.networks`: CIDR blocks (IPv4/IPv6) whose clients may relay without AUTH.
        /// Default none.
        public var networks: [CIDRBlock] = []
        /// `access.users`: SMTP AUTH accounts. Default none.
        public var users: [User] = []

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
