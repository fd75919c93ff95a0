import GraphRelayGraph
import GraphRelaySMTP

/// Every metric graph-relay exports: name, kind, labels, help text and buckets, in one place.
/// ``RelayMetricsFactory`` takes the help text and the buckets from here, and keeps each family's
/// labels to the ones listed (a label that is listed but not given reads `unknown`), so a family
/// is always labelled the same way. docs/operations.md, "Metrics", is this table for people.
struct RelayMetricCatalogue: Sendable {
    enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    struct Family: Sendable {
        var name: String
        var kind: Kind
        var labels: [String]
        var help: String
        /// Upper bounds of a histogram's buckets (seconds for durations).
        var buckets: [Double] = []
    }

    /// Labels kept only where `admin.mailboxLabels: true`.
    static let optionalLabels: Set<String> = ["mailbox"]

    static let families: [Family] = [
        Family(name: SMTPServerMetrics.connections, kind: .counter, labels: ["listener"],
               help: "SMTP connections accepted, by listener (including those refused over a connection limit)."),
        Family(name: SMTPServerMetrics.sessionsActive, kind: .gauge, labels: [], help: "SMTP sessions open now."),
        Family(name: SMTPServerMetrics.messagesAccepted, kind: .counter, labels: [],
               help: "Messages the relay answered with 250 (queued, or delivered with delivery: synchronous)."),
        Family(name: SMTPServerMetrics.messagesRejected, kind: .counter, labels: ["code"],
               help: "MAIL FROM, RCPT TO and messages refused, by SMTP reply code."),
        Family(name: SMTPServerMetrics.authenticationFailures, kind: .counter, labels: [], help: "SMTP AUTH attempts with wrong credentials."),
        Family(name: SMTPServerMetrics.tlsHandshakes, kind: .counter, labels: ["version"],
               help: "TLS handshakes completed with SMTP clients (STARTTLS and implicit TLS), by protocol version."),
        Family(name: SMTPServerMetrics.tlsHandshakeFailures, kind: .counter, labels: [], help: "TLS handshakes with SMTP clients that failed."),
        Family(name: SMTPServerMetrics.messageSize, kind: .histogram, labels: [], help: "Size of accepted messages in bytes.",
               buckets: [1024, 4096, 16384, 65536, 262_144, 1_048_576, 3_145_728, 10_485_760, 36_700_160, 157_286_400]),
        Family(name: RelayMetrics.queueMessages, kind: .gauge, labels: ["state"],
               help: "Messages in the spool: queued (due), deferred (waiting for a retry or a pause), failed (kept in failed/)."),
        Family(name: RelayMetrics.queueOldestAge, kind: .gauge, labels: [], help: "Age of the oldest queued or deferred message in seconds (0 when none)."),
        Family(name: RelayMetrics.deliveries, kind: .counter, labels: ["application", "outcome", "mailbox"],
               help: "Finished delivery attempts by application and outcome (delivered, deferred, failed, ambiguous)."),
        Family(name: RelayMetrics.deliveryDelay, kind: .histogram, labels: [],
               help: "Seconds from the relay's acceptance of a message to Graph's 202 for it.",
               buckets: [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400]),
        Family(name: GraphMetrics.requests, kind: .counter, labels: ["operation", "status"],
               help: "Requests to Microsoft Graph by operation and HTTP status (error: no answer)."),
        Family(name: GraphMetrics.requestDuration, kind: .histogram, labels: ["operation"],
               help: "Duration of requests to Microsoft Graph in seconds, by operation.",
               buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]),
        Family(name: GraphMetrics.throttled, kind: .counter, labels: ["application", "mailbox"],
               help: "Graph answers 429 (throttled), by application."),
        Family(name: GraphMetrics.tokenRequests, kind: .counter, labels: ["application", "outcome"],
               help: "Token requests to Entra ID by application and outcome (success, failure)."),
        Family(name: RelayMetrics.tokenReady, kind: .gauge, labels: ["application"],
               help: "1 when the application's last token attempt succeeded, 0 when it failed or none was made yet."),
        Family(name: RelayMetrics.ready, kind: .gauge, labels: [], help: "1 when /readyz answers 200, else 0."),
        Family(name: RelayMetrics.configReloads, kind: .counter, labels: ["outcome"],
               help: "Configuration reloads (SIGHUP) by outcome (success, failure)."),
        Family(name: RelayMetrics.buildInfo, kind: .gauge, labels: ["version"], help: "Always 1; the version label is the running release."),
    ]

    static let byName: [String: Family] = Dictionary(uniqueKeysWithValues: families.map { ($0.name, $0) })
}
