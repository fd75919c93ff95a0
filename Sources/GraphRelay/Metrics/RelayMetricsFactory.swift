import CoreMetrics
import Prometheus

/// swift-metrics' factory over a Prometheus registry, shaped by ``RelayMetricCatalogue``: each
/// family gets its help text and buckets from there, and exactly its listed labels (sorted; a
/// listed label that was not given reads `unknown`; `mailbox` only with `admin.mailboxLabels`).
/// A name the catalogue does not list still works, without help text (a test keeps the catalogue
/// complete). swift-prometheus' own factory writes no help text, which `promtool check metrics`
/// rejects.
struct RelayMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let mailboxLabels: Bool

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let (family, labels) = shape(label, dimensions)
        return registry.makeCounter(descriptor: descriptor(label, family), labels: labels)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        let (family, labels) = shape(label, dimensions)
        return registry.makeCounter(descriptor: descriptor(label, family), labels: labels)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let (family, labels) = shape(label, dimensions)
        guard aggregate else {
            return registry.makeGauge(descriptor: descriptor(label, family), labels: labels)
        }
        return registry.makeValueHistogram(descriptor: descriptor(label, family), labels: labels,
                                           buckets: family?.buckets ?? [1, 10, 100, 1000])
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let (family, labels) = shape(label, dimensions)
        return registry.makeGauge(descriptor: descriptor(label, family), labels: labels)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let (family, labels) = shape(label, dimensions)
        let buckets = (family?.buckets ?? [0.1, 1, 10]).map { Duration.nanoseconds(Int64($0 * 1e9)) }
        return registry.makeDurationHistogram(descriptor: descriptor(label, family), labels: labels, buckets: buckets)
    }

    // The registry keeps its metrics for the life of the process; nothing is destroyed.
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    private func descriptor(_ name: String, _ family: RelayMetricCatalogue.Family?) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: family?.help ?? "")
    }

    private func shape(_ name: String, _ dimensions: [(String, String)]) -> (RelayMetricCatalogue.Family?, [(String, String)]) {
        guard let family = RelayMetricCatalogue.byName[name] else {
            return (nil, dimensions.sorted { $0.0 < $1.0 })
        }
        var labels: [(String, String)] = []
        for key in family.labels.sorted() {
            let value = dimensions.last(where: { $0.0 == key })?.1
            if RelayMetricCatalogue.optionalLabels.contains(key) {
                if mailboxLabels, let value { labels.append((key, value)) }
            } else {
                labels.append((key, value ?? "unknown"))
            }
        }
        return (family, labels)
    }
}
