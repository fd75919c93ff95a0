extension RelayConfiguration {
    /// `spool`: durable queue.
    public struct SpoolSettings: Sendable, Hashable {
        /// `spool.directory`: default `/var/spool/graph-relay` (relative paths are relative to the
        /// configuration file's directory).
        public var directory: String = "/var/spool/graph-relay"
        /// `spool.minimumFreeSpace`: below this much free space on the spool's file system,
        /// `MAIL FROM` (and a `SIZE=` that would go below it) gets `452 4.3.1` instead of filling
        /// the disk. 0 turns the check off. Default 1 GB.
        public var minimumFreeSpace: Int = 1_000_000_000
        /// `spool.retry`.
        public var retry = Retry()

        public init() {}
    }

    /// `spool.retry`: exponential backoff for transient failures.
    public struct Retry: Sendable, Hashable {
        /// `spool.retry.initial`: first retry delay. Default `5m`.
        public var initial: Duration = .seconds(300)
        /// `spool.retry.maximum`: the largest delay. Default `1h`.
        public var maximum: Duration = .seconds(3600)
        /// `spool.retry.lifetime`: give up (and bounce) after this long in the queue. Default `5d`.
        public var lifetime: Duration = .seconds(5 * 86_400)
        /// `spool.retry.multiplier`: growth factor between attempts. Default 2.
        public var multiplier: Double = 2

        public init() {}
    }

    /// `scheduler`: how fast each Graph mailbox is fed.
    public struct Scheduler: Sendable, Hashable {
        /// `scheduler.concurrencyPerMailbox`: concurrent sendMail requests per mailbox, 1–4
        /// (Graph allows 4 per app and mailbox). Default 4.
        public var concurrencyPerMailbox: Int = 4
        /// `scheduler.messagesPerMinute`: per mailbox. Default 30 (Exchange Online's limit).
        public var messagesPerMinute: Int = 30
        /// `scheduler.uploadLimit`: bytes of large messages (those above one sendMail request) a
        /// mailbox may start in any 5 minutes. Default `150MiB` (Graph's upload limit per
        /// application and mailbox); `0` turns the pacing off.
        public var uploadLimit: Int = 150 * 1024 * 1024

        public init() {}
    }

    /// `bounces`: delivery status notifications (RFC 3464) for failed messages.
    public struct Bounces: Sendable, Hashable {
        /// `bounces.enabled`: default `true`. Never sent for the null sender `<>`.
        public var enabled: Bool = true
        /// `bounces.adminAddress`: send notifications here instead of to the envelope sender.
        /// Default `null` (to the envelope sender).
        public var adminAddress: String?

        public init() {}
    }

    /// `graph`: the HTTP client towards Entra ID and Graph.
    public struct GraphSettings: Sendable, Hashable {
        /// `graph.proxy`: an HTTP CONNECT proxy URL (`http://proxy:3128`, credentials allowed),
        /// or `none`. Default: taken from `https_proxy`/`HTTPS_PROXY` at load time.
        public var proxy: Proxy?
        /// `graph.noProxy`: hosts (`graph.microsoft.com`), domain suffixes (`.example.com`) or
        /// `*` reached directly. Default: `no_proxy`/`NO_PROXY` at load time.
        public var noProxy: [String] = []
        /// `graph.connectTimeout`: TCP + TLS connect. Default `10s`.
        public var connectTimeout: Duration = .seconds(10)
        /// `graph.requestTimeout`: one request, from sending to the complete response.
        /// Default `60s`.
        public var requestTimeout: Duration = .seconds(60)
        /// `graph.maxIdleConnectionsPerHost`: connections kept open (idle, for reuse) per host;
        /// connections in use are not limited by it. Default 16. (`maxConnectionsPerHost`, its
        /// old name, is still read and reported as deprecated.)
        public var maxIdleConnectionsPerHost: Int = 16
        /// `graph.sendVia`: how messages are submitted. Default `auto`.
        public var sendVia: SendVia = .auto
        /// `graph.largeMessageFormat`: how the draft path builds its draft. Default `mime`.
        public var largeMessageFormat: LargeMessageFormat = .mime

        public init() {}

        /// Whether `host` should bypass the proxy according to ``noProxy``.
        public func bypassesProxy(host: String) -> Bool {
            let host = host.lowercased()
            return noProxy.contains { entry in
                let entry = entry.lowercased()
                if entry == "*" { return true }
                if entry.hasPrefix(".") { return host.hasSuffix(entry) || host == String(entry.dropFirst()) }
                return host == entry || host.hasSuffix("." + entry)
            }
        }
    }

    /// `graph.sendVia`.
    public enum SendVia: String, Sendable, Hashable, CaseIterable {
        /// One `sendMail` request when the message fits (4 MB after base64), else a draft with
        /// its large parts added as attachments, then `send` (default).
        case auto
        /// Every message through a draft: its send can be checked, so it is never sent twice.
        case drafts
        /// Only `sendMail`: messages are limited to about 3 MB (`smtp.maxMessageSize`).
        case sendMail
    }

    /// `graph.largeMessageFormat`.
    public enum LargeMessageFormat: String, Sendable, Hashable, CaseIterable {
        /// The draft is the device's MIME without its large parts (every header field kept) (default).
        case mime
        /// The draft is built from the message's fields as Graph JSON (loses most header fields).
        case json
    }

    /// An HTTP CONNECT proxy.
    public struct Proxy: Sendable, Hashable {
        public var endpoint: ServiceEndpoint
        /// Basic credentials from the URL (`http://user:password@proxy:3128`).
        public var username: String?
        public var password: Secret?
        /// Where the setting came from: `graph.proxy` or the environment variable's name.
        public var source: String

        public init(endpoint: ServiceEndpoint, username: String? = nil, password: Secret? = nil, source: String = "graph.proxy") {
            self.endpoint = endpoint
            self.username = username
            self.password = password
            self.source = source
        }
    }
}
