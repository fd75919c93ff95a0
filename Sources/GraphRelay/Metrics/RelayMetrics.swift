import CoreMetrics
import Foundation
import GraphRelayDelivery
import GraphRelaySMTP
import NIOConcurrencyHelpers
import Prometheus

/// The relay's metrics: one Prometheus registry per ``RelayService``, filled through swift-metrics
/// by the SMTP server, the Graph clients and the delivery reports, and rendered for `GET /metrics`.
/// The queue and readiness gauges are set from a ``Sample`` just before each rendering.
final class RelayMetrics: Sendable {
    static let queueMessages = "graph_relay_queue_messages"
    static let queueOldestAge = "graph_relay_queue_oldest_age_seconds"
    static let deliveries = "graph_relay_deliveries_total"
    static let deliveryDelay = "graph_relay_delivery_delay_seconds"
    static let tokenReady = "graph_relay_token_ready"
    static let ready = "graph_relay_ready"
    static let configReloads = "graph_relay_config_reloads_total"
    static let buildInfo = "graph_relay_build_info"

    /// What the gauges show, gathered at scrape time.
    struct Sample: Sendable {
        var queued = 0
        var deferred = 0
        var failed = 0
        /// Seconds; 0 when the queue is empty.
        var oldestAge: Double = 0
        var ready = false
        /// Each application's last token attempt: true when it succeeded.
        var tokens: [String: Bool] = [:]
    }

    let registry = PrometheusCollectorRegistry()
    let factory: RelayMetricsFactory
    let smtp: SMTPServerMetrics
    private let delay: CoreMetrics.Timer

    init(mailboxLabels: Bool, applications: [String]) {
        factory = RelayMetricsFactory(registry: registry, mailboxLabels: mailboxLabels)
        smtp = SMTPServerMetrics(factory: factory)
        delay = CoreMetrics.Timer(label: Self.deliveryDelay, factory: factory)
        CoreMetrics.Gauge(label: Self.buildInfo, dimensions: [("version", GraphRelayVersion.current)], factory: factory).record(1)
        for outcome in ["success", "failure"] {
            _ = CoreMetrics.Counter(label: Self.configReloads, dimensions: [("outcome", outcome)], factory: factory)
        }
        prepare(applications: applications)
        update(Sample())
    }

    /// Makes each application's delivery series known, so they read 0 before the first delivery.
    func prepare(applications: [String]) {
        for application in applications {
            for outcome in ["delivered", "deferred", "failed", "ambiguous"] {
                _ = CoreMetrics.Counter(label: Self.deliveries, dimensions: [("application", application), ("outcome", outcome)], factory: factory)
            }
        }
    }

    /// Counts one finished delivery attempt.
    func record(_ report: DeliveryReport) {
        CoreMetrics.Counter(label: Self.deliveries, dimensions: [
            ("application", report.application), ("outcome", report.outcome.metricName), ("mailbox", report.mailbox.lowercased()),
        ], factory: factory).increment()
        if case .delivered = report.outcome {
            delay.recordNanoseconds(Int64(max(report.delay, 0) * 1e9))
        }
    }

    func configurationReloaded(success: Bool) {
        CoreMetrics.Counter(label: Self.configReloads, dimensions: [("outcome", success ? "success" : "failure")], factory: factory).increment()
    }

    /// The Prometheus text exposition, with the gauges set from `sample` first.
    func exposition(_ sample: Sample) -> String {
        update(sample)
        return registry.emitToString()
    }

    private func update(_ sample: Sample) {
        for (state, count) in [("queued", sample.queued), ("deferred", sample.deferred), ("failed", sample.failed)] {
            CoreMetrics.Gauge(label: Self.queueMessages, dimensions: [("state", state)], factory: factory).record(count)
        }
        CoreMetrics.Gauge(label: Self.queueOldestAge, factory: factory).record(sample.oldestAge)
        CoreMetrics.Gauge(label: Self.ready, factory: factory).record(sample.ready ? 1 : 0)
        for (application, ok) in sample.tokens {
            CoreMetrics.Gauge(label: Self.tokenReady, dimensions: [("application", application)], factory: factory).record(ok ? 1 : 0)
        }
    }
}
