import GraphRelayTLS

/// What the emulated tenant(s) contain and how the server listens. Defaults emulate one tenant
/// with no applications and no mailboxes; tests add what they need.
public struct GraphEmulatorConfiguration: Sendable {
    /// Address to bind. Default `127.0.0.1`.
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free one (see ``GraphEmulator/port``). Default 0.
    public var port: Int = 0
    /// Server TLS (certificate and key). `nil` serves plain HTTP. Default nil.
    public var tls: TLSConfiguration?
    /// When set, a second listener on ``host`` serves the Azure instance metadata service's token
    /// endpoint (`GET /metadata/identity/oauth2/token`, plain HTTP, as on a VM) for applications
    /// with a ``Application/managedIdentity``; 0 picks a free port (see
    /// ``GraphEmulator/metadataTokenURL``). Default nil: none.
    public var metadataPort: Int?
    /// Registered applications (the tenants are those the applications name).
    public var applications: [Application] = []
    /// Mailboxes that exist (case-insensitive). Others get 404 `ErrorInvalidUser`.
    public var mailboxes: [Mailbox] = []
    /// When set, each accepted message is also written to `<outbox>/<mailbox>/<time>-<id>.eml`.
    /// Default nil.
    public var outboxDirectory: String?
    /// `expires_in` of issued tokens, in seconds. Default 3599 (what Entra usually answers).
    public var tokenLifetime: Int = 3599
    /// Largest sendMail request body accepted; larger ones get 413. Default 4 MiB.
    public var maxRequestBytes: Int = 4 * 1024 * 1024
    /// Largest decoded message accepted; larger ones get 400 `ErrorMessageSizeExceeded`.
    /// Default 35 MB (Exchange Online's default), i.e. only the request limit applies.
    public var maxMessageBytes: Int = 35 * 1024 * 1024
    /// The scope clients must request. Default `https://graph.microsoft.com/.default` (global cloud).
    public var expectedScope: String = "https://graph.microsoft.com/.default"
    /// Check `From:` against the mailbox and its send-as list (403 `ErrorSendAsDenied`), as
    /// Exchange does. Default true.
    public var enforceSendAs: Bool = true
    /// Recipient addresses Graph should call invalid (400 `ErrorInvalidRecipients`). Default none.
    public var invalidRecipients: [String] = []
    /// Tolerance for `nbf`/`exp` of client assertions, in seconds. Default 300.
    public var clockSkew: Int = 300
    /// Accepted messages kept in memory for inspection (``GraphEmulator/messages``): at least the
    /// last this many (the oldest are dropped in batches once there are twice as many). Default
    /// nil: all (tests). The relay's embedded emulator and the `graph-emulator` executable, which
    /// run for long, keep 1000.
    public var retainedMessages: Int?
    /// Keep the bytes of each attachment of a sent draft in ``GraphEmulatorAttachment/content``
    /// (tests compare them); otherwise only their size and SHA-256. Default true; the relay's
    /// embedded emulator and the `graph-emulator` executable keep none (a 40 MB scan would stay
    /// in memory).
    public var retainsAttachmentContent = true
    /// Answer attachment requests on a draft created from MIME with 400 (Microsoft does not say
    /// whether Graph allows them; this lets the relay's JSON fallback be tested). Default false.
    public var refusesAttachmentsOnMIMEDrafts = false
    /// Smallest attachment an upload session accepts (Graph: 3 MB). Default 3 MiB.
    public var minimumUploadSessionSize = 3 * 1024 * 1024
    /// Largest attachment an upload session accepts (Graph: 150 MB). Default 150 MiB.
    public var maximumUploadSessionSize = 150 * 1024 * 1024
    /// How long an upload session's URL works. Default 15 minutes.
    public var uploadSessionLifetime: Double = 15 * 60
    /// When set, request bodies (POST/PUT) per application and mailbox are limited to `bytes`
    /// per `seconds` (Graph: 150 MB per 5 minutes); beyond, 429 with `Retry-After`. Default nil.
    public var uploadLimit: (bytes: Int, seconds: Double)?

    public init() {}

    /// An Entra app registration.
    public struct Application: Sendable, Hashable {
        /// Tenant id or domain the app lives in (the token URL's `{tenant}`).
        public var tenantID: String
        public var clientID: String
        /// Current client secret values.
        public var secrets: [String]
        /// Secrets that exist but have expired (AADSTS7000222).
        public var expiredSecrets: [String]
        /// Certificates (PEM text) whose keys may sign client assertions.
        public var certificates: [String]
        /// Federated (workload identity) tokens accepted verbatim as client assertions.
        public var federatedTokens: [String]
        /// When set, the app may send only as these mailboxes (an application access policy);
        /// others get 403 `ErrorAccessDenied`. Default nil (all).
        public var allowedMailboxes: [String]?
        /// A disabled app gets AADSTS7000112. Default false.
        public var disabled: Bool
        /// Application permissions granted: `Mail.Send` for sendMail and sending drafts,
        /// `Mail.ReadWrite` for drafts and attachments (403 `ErrorAccessDenied` without).
        /// Default both.
        public var permissions: Set<String> = ["Mail.Send", "Mail.ReadWrite"]
        /// When set, this application is a managed identity of the emulated VM: the instance
        /// metadata endpoint issues its tokens. Default nil.
        public var managedIdentity: ManagedIdentity?

        public init(tenantID: String, clientID: String, secrets: [String] = [], expiredSecrets: [String] = [],
                    certificates: [String] = [], federatedTokens: [String] = [], allowedMailboxes: [String]? = nil,
                    disabled: Bool = false, managedIdentity: ManagedIdentity? = nil) {
            self.managedIdentity = managedIdentity
            self.tenantID = tenantID
            self.clientID = clientID
            self.secrets = secrets
            self.expiredSecrets = expiredSecrets
            self.certificates = certificates
            self.federatedTokens = federatedTokens
            self.allowedMailboxes = allowedMailboxes
            self.disabled = disabled
        }
    }

    /// How an application is assigned to the emulated VM as a managed identity.
    public enum ManagedIdentity: Sendable, Hashable {
        /// The VM's system-assigned identity (at most one).
        case systemAssigned
        /// A user-assigned identity, named in requests by the application's client id, this
        /// object id or this resource id.
        case userAssigned(objectID: String, resourceID: String)
    }

    /// A mailbox, with the other addresses it may send as (`Send As` rights).
    public struct Mailbox: Sendable, Hashable, ExpressibleByStringLiteral {
        public var address: String
        public var sendAs: [String]

        public init(_ address: String, sendAs: [String] = []) {
            self.address = address
            self.sendAs = sendAs
        }

        public init(stringLiteral value: String) {
            self.init(value)
        }
    }
}
