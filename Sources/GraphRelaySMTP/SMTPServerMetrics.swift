import CoreMetrics
import NIOConcurrencyHelpers

/// What the SMTP server counts, through swift-metrics with the factory it is given (the product
/// passes its Prometheus registry's; tests and tools leave the no-op default). Names and labels
/// are listed in docs/operations.md, "Metrics"; no label carries a client-supplied string.
///
/// Metrics with fixed labels are made once; those labelled by a reply code or a TLS version are
/// made on first use and kept, so a busy session costs a dictionary lookup, not a registry call.
public final class SMTPServerMetrics: Sendable {
    public static let connections = "graph_relay_smtp_connections_total"
    public static let sessionsActive = "graph_relay_smtp_sessions_active"
    public static let messagesAccepted = "graph_relay_smtp_messages_accepted_total"
    public static let messagesRejected = "graph_relay_smtp_messages_rejected_total"
    public static let authenticationFailures = "graph_relay_smtp_auth_failures_total"
    public static let tlsHandshakes = "graph_relay_tls_handshakes_total"
    public static let tlsHandshakeFailures = "graph_relay_tls_handshake_failures_total"
    public static let messageSize = "graph_relay_message_size_bytes"

    private let factory: any MetricsFactory
    private let sessions: Meter
    private let accepted: Counter
    private let authFailures: Counter
    private let handshakeFailures: Counter
    private let sizes: Recorder
    private let byLabel = NIOLockedValueBox<[String: Counter]>([:])

    /// No metrics: every call is a no-op.
    public static let disabled = SMTPServerMetrics(factory: NOOPMetricsHandler.instance)

    public init(factory: any MetricsFactory) {
        self.factory = factory
        self.sessions = Meter(label: Self.sessionsActive, factory: factory)
        self.accepted = Counter(label: Self.messagesAccepted, factory: factory)
        self.authFailures = Counter(label: Self.authenticationFailures, factory: factory)
        self.handshakeFailures = Counter(label: Self.tlsHandshakeFailures, factory: factory)
        self.sizes = Recorder(label: Self.messageSize, factory: factory)
    }

    /// Makes the labelled series known in advance, so they read 0 before the first event.
    func prepare(listeners: [String]) {
        for name in listeners { _ = counter(Self.connections, ("listener", name)) }
        for version in ["TLSv1.2", "TLSv1.3"] { _ = counter(Self.tlsHandshakes, ("version", version)) }
        sessions.set(0)
    }

    func connectionOpened(listener: String) { counter(Self.connections, ("listener", listener)).increment() }
    func sessionStarted() { sessions.increment() }
    func sessionEnded() { sessions.decrement() }
    func messageAccepted(size: Int) {
        accepted.increment()
        sizes.record(size)
    }
    /// A MAIL FROM, RCPT TO or message refused with `code` (a 4xx or 5xx).
    func refused(code: Int) { counter(Self.messagesRejected, ("code", String(code))).increment() }
    func authenticationFailed() { authFailures.increment() }
    func tlsHandshakeCompleted(version: String) { counter(Self.tlsHandshakes, ("version", version)).increment() }
    func tlsHandshakeFailed() { handshakeFailures.increment() }

    private func counter(_ name: String, _ label: (String, String)) -> Counter {
        let key = name + "\u{0}" + label.1
        return byLabel.withLockedValue { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: name, dimensions: [label], factory: factory)
            counters[key] = counter
            return counter
        }
    }
}
