import CoreMetrics

/// What one application's Graph client counts, through swift-metrics with the factory it is given
/// (the product passes its Prometheus registry's; the default is the no-op factory). Names and
/// labels are listed in docs/operations.md, "Metrics"; the mailbox is never a label here.
public struct GraphMetrics: Sendable {
    public static let requests = "graph_relay_graph_requests_total"
    public static let requestDuration = "graph_relay_graph_request_duration_seconds"
    public static let throttled = "graph_relay_graph_throttled_total"
    public static let tokenRequests = "graph_relay_token_requests_total"

    let factory: any MetricsFactory
    let application: String

    public init(factory: any MetricsFactory, application: String) {
        self.factory = factory
        self.application = application
    }

    /// Makes the series known in advance, so they read 0 before the first event.
    func prepare() {
        _ = Counter(label: Self.throttled, dimensions: [("application", application)], factory: factory)
        for outcome in ["success", "failure"] {
            _ = Counter(label: Self.tokenRequests, dimensions: [("application", application), ("outcome", outcome)], factory: factory)
        }
    }

    /// A request to Graph finished: `status` is the HTTP status, or `error` when no answer came.
    /// The mailbox labels a throttle only where the product's factory keeps mailbox labels.
    func requestFinished(operation: String, mailbox: String, status: String, duration: Duration) {
        Counter(label: Self.requests, dimensions: [("operation", operation), ("status", status)], factory: factory).increment()
        Timer(label: Self.requestDuration, dimensions: [("operation", operation)], factory: factory)
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        if status == "429" {
            Counter(label: Self.throttled, dimensions: [("application", application), ("mailbox", mailbox.lowercased())], factory: factory)
                .increment()
        }
    }

    /// A token request to Entra ID finished.
    func tokenRequestFinished(success: Bool) {
        Counter(label: Self.tokenRequests, dimensions: [("application", application), ("outcome", success ? "success" : "failure")],
                factory: factory).increment()
    }
}
