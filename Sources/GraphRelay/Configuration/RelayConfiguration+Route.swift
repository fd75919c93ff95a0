extension RelayConfiguration {
    /// `routes[]`: the first route whose `sender` matches (and whose optional narrowing holds)
    /// decides the application and mailbox.
    public struct Route: Sendable, Hashable {
        /// `sender`: envelope-sender pattern (`*`, `<>`, `*@domain`, `*@*.domain`, an address).
        /// Required.
        public var sender: SenderPattern
        /// `application`: the name of an `applications[]` entry. Required.
        public var application: String
        /// `mailbox`: the mailbox to send as: an address, or `sender` (the envelope sender
        /// itself). Required.
        public var mailbox: MailboxSelection
        /// `rewriteFrom`: rewrite the `From:` header to the mailbox (keeping the display name).
        /// Default `false`.
        public var rewriteFrom: Bool = false
        /// `authenticatedUser`: only for sessions authenticated as one of these users (a name or a
        /// list). Default: any session.
        public var authenticatedUsers: [String]?
        /// `clientNetworks`: only for clients in these CIDR blocks. Default: any client.
        public var clientNetworks: [CIDRBlock]?
        /// `requireHeaderFromMatch`: refuse (`550 5.7.1`, at the end of data) a message whose
        /// `From:` address, after ``rewriteFrom``, is not the envelope sender (so a device allowed to
        /// send as `scanner@` cannot put `From: ceo@` in the header). Default `false`.
        public var requireHeaderFromMatch: Bool = false

        public init(sender: SenderPattern, application: String, mailbox: MailboxSelection, rewriteFrom: Bool = false) {
            self.sender = sender
            self.application = application
            self.mailbox = mailbox
            self.rewriteFrom = rewriteFrom
        }

        /// Whether the route applies to everyone it could (no narrowing).
        var isUnnarrowed: Bool { authenticatedUsers == nil && clientNetworks == nil }
    }

    /// `routes[].mailbox`.
    public enum MailboxSelection: Sendable, Hashable, CustomStringConvertible {
        /// `sender`: send as the envelope sender.
        case sender
        /// A fixed mailbox address.
        case address(String)

        public var description: String {
            switch self {
            case .sender: "sender"
            case .address(let address): address
            }
        }
    }
}
