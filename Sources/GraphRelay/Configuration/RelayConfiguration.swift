import Foundation
import Logging

/// graph-relay's whole configuration: one YAML file (see docs/configuration.md), loaded and
/// validated by ``load(contentsOfFile:environment:)``.
///
/// Every property has the documented default; a configuration built in code should be checked
/// with ``validate()``.
public struct RelayConfiguration: Sendable {
    /// `smtp`: the SMTP side (host name, listeners, limits).
    public var smtp = SMTP()
    /// `tls`: the server certificate for STARTTLS and implicit-TLS listeners. Default none
    /// (then every listener must be `tls: none`).
    public var tls: TLS?
    /// `access`: trusted networks and SMTP users.
    public var access = Access()
    /// `applications`: the Entra ID applications used to call Graph. At least one.
    public var applications: [Application] = []
    /// `routes`: ordered sender → application/mailbox rules. At least one.
    public var routes: [Route] = []
    /// `delivery`: `queue` (spool, then deliver; the default) or `synchronous` (answer after
    /// Graph answered).
    public var delivery = DeliveryMode.queue
    /// `spool`: where queued messages live and how they are retried.
    public var spool = SpoolSettings()
    /// `scheduler`: per-mailbox concurrency and rate.
    public var scheduler = Scheduler()
    /// `bounces`: delivery status notifications for failed messages.
    public var bounces = Bounces()
    /// `graph`: the HTTP client towards Entra ID and Graph (proxy, timeouts).
    public var graph = GraphSettings()
    /// `logging`: log level.
    public var logging = Logging()
    /// `admin`: the HTTP listener for probes, metrics and the status page.
    public var admin = Admin()
    /// Non-fatal findings of the last load (e.g. unreachable routes); `graph-relay check-config`
    /// prints them, `serve` logs them.
    public var warnings: [ConfigurationIssue] = []

    public init() {}

    /// The application with this name (names are unique).
    public func application(named name: String) -> Application? {
        applications.first { $0.name == name }
    }

    /// The user with this name (names are unique).
    public func user(named name: String) -> User? {
        access.users.first { $0.name == name }
    }
}

extension RelayConfiguration {
    /// `delivery`.
    public enum DeliveryMode: String, Sendable, Hashable, CaseIterable {
        /// Write the message to the spool, answer 250, deliver in the background (default).
        case queue
        /// Answer the client only after Graph answered (no spool).
        case synchronous
    }

    /// `admin`.
    public struct Admin: Sendable, Hashable {
        /// `admin.address`: `host:port` of the admin HTTP listener, or `none`. Default
        /// `127.0.0.1:9025` (loopback: probes run on the same host or through the pod's network).
        public var address: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9025)
        /// `admin.bearerToken`: a secret that every path but `/healthz` and `/readyz` requires as
        /// `Authorization: Bearer …`. Default none.
        public var bearerToken: Secret?
        /// `admin.mailboxLabels`: label the delivery and throttling metrics with the mailbox too.
        /// Default false (one series per mailbox adds up with many senders).
        public var mailboxLabels = false

        public init() {}
    }

    /// `logging`.
    public struct Logging: Sendable, Hashable {
        /// `logging.level`: trace, debug, info, notice, warning, error, critical. Default `info`.
        public var level: Logger.Level = .info
        /// `logging.format`: `text` or `json` (one object per line). Default `text`.
        public var format: LogFormat = .text

        public init() {}
    }
}
