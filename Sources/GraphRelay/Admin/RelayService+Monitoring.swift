import Foundation
import GraphRelayDelivery

// What `/metrics` and the status page show, gathered from the running relay.
extension RelayService {
    /// The Prometheus exposition, with the queue, readiness and token gauges taken now.
    func metricsExposition() async -> String {
        let readiness = readiness()
        var sample = RelayMetrics.Sample()
        sample.ready = readiness.isReady
        let (agent, spool, clients) = state.withLockedValue { ($0.agent, $0.spool, $0.clients) }
        if let agent {
            let queue = await agent.snapshot()
            sample.queued = queue.queued + queue.inFlight
            sample.deferred = queue.deferred
            sample.oldestAge = queue.oldest.map { max(Date().timeIntervalSince($0), 0) } ?? 0
        }
        sample.failed = (try? await spool?.count(.failed)) ?? 0
        let statuses = clients?.tokenStatuses ?? [:]
        for application in configuration.applications.map(\.name) {
            sample.tokens[application] = statuses[application]?.obtained ?? false
        }
        return metrics.exposition(sample)
    }

    /// The status page's HTML.
    func statusPage() async -> String {
        let (agent, spool, clients) = state.withLockedValue { ($0.agent, $0.spool, $0.clients) }
        let statuses = clients?.tokenStatuses ?? [:]
        var failed: Int?
        if let spool { failed = try? await spool.count(.failed) }
        let snapshot = StatusPage.Snapshot(
            now: Date(), version: GraphRelayVersion.current, hostname: configuration.smtp.hostname, readiness: readiness(),
            queue: await agent?.snapshot(), failed: failed, lastHour: history.lastHour(),
            tokens: configuration.applications.map { application in
                let status = statuses[application.name]
                return StatusPage.Token(application: application.name, obtained: status?.obtained, detail: status?.detail)
            },
            recent: history.recent()
        )
        return StatusPage.render(snapshot)
    }
}
