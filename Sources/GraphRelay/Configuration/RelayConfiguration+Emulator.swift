extension RelayConfiguration {
    /// `emulator`: **development only** — start a Microsoft Graph emulator inside graph-relay and
    /// send every application's token and sendMail requests to it instead of Microsoft. Used by
    /// `make run` and `make bench`; absent (the default) in production.
    public struct Emulator: Sendable, Hashable {
        /// `emulator.listen`: where the emulator's HTTPS endpoint listens. Default
        /// `127.0.0.1:0` (a free port on loopback).
        public var listen = ListenAddress(host: "127.0.0.1", port: 0)
        /// `emulator.outbox`: a directory where each accepted message is written as
        /// `<outbox>/<mailbox>/<time>-<id>.eml`. Default `null` (kept in memory only).
        public var outbox: String?
        /// `emulator.mailboxes`: mailboxes that exist besides the fixed mailboxes of the routes.
        /// Default none.
        public var mailboxes: [String] = []
        /// `emulator.enforceSendAs`: refuse a `From:` other than the mailbox with 403, as
        /// Exchange does. Default `true`.
        public var enforceSendAs = true

        public init() {}
    }
}
