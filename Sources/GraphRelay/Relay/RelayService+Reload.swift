import Foundation
import GraphRelayGraph
import Logging

// Reloading the configuration without a restart (SIGHUP, `systemctl reload`).
extension RelayService {
    /// How long a Graph client that a reload replaced is kept for the requests it still has under
    /// way (a large message's upload can take minutes) before it is shut down.
    static let retiredClientLifetime: Duration = .seconds(900)

    /// Puts `new` — already loaded and validated in full — in force: users, networks, routes,
    /// applications and their secrets, SMTP limits and TLS for the sessions that start from now
    /// on (open sessions finish with what they started with), the Graph clients and routes for
    /// the deliveries that start from now on. Sections that need a restart (listeners, admin,
    /// delivery, spool, scheduler, bounces, logging) stay as they are; they are returned, and
    /// logged. Throws, changing nothing, when a part cannot be built (a TLS certificate that does
    /// not load, an application whose client cannot be made).
    @discardableResult
    public func reload(_ new: RelayConfiguration) throws -> [String] {
        let (old, server, clients, spool) = state.withLockedValue { ($0.configuration, $0.server, $0.clients, $0.spool) }
        guard let server, let clients else {
            throw ConfigurationError(file: nil, issues: [ConfigurationIssue(path: "", message: "the relay is not running")])
        }
        var effective = new
        var restart: [String] = []
        func keep<Value: Equatable>(_ key: String, _ path: WritableKeyPath<RelayConfiguration, Value>) {
            if old[keyPath: path] != new[keyPath: path] { restart.append(key) }
            effective[keyPath: path] = old[keyPath: path]
        }
        keep("smtp.listeners", \.smtp.listeners)
        keep("admin", \.admin)
        keep("delivery", \.delivery)
        keep("spool", \.spool)
        keep("scheduler", \.scheduler)
        keep("bounces", \.bounces)
        keep("logging", \.logging)

        let tls = try TLSSources(effective)
        let newClients = try GraphClients(configuration: effective, eventLoopGroup: eventLoopGroup, metricsFactory: metrics.factory,
                                          reusing: (clients, old))
        let front = makeFront(effective, clients: newClients, spool: spool, tls: tls)
        var deliveryLogger = logger
        deliveryLogger[metadataKey: "relay.component"] = "delivery"
        let spoolDelivery = spool.map {
            SpoolDelivery(delivery: GraphDelivery(clients: newClients, graph: effective.graph), spool: $0, logger: deliveryLogger)
        }
        let kept = Set(newClients.clients.values.map(ObjectIdentifier.init))
        let retired = clients.clients.values.filter { !kept.contains(ObjectIdentifier($0)) }

        server.update(configuration: front.server, policy: front.policy, authenticator: front.authenticator)
        state.withLockedValue { state in
            state.configuration = effective
            state.clients = newClients
            state.reloadable = tls.reloadable
            if let spoolDelivery { state.spoolDelivery = spoolDelivery }
            state.retiredClients += retired
        }
        metrics.prepare(applications: effective.applications.map(\.name))
        watchTokens(newClients)
        if !retired.isEmpty {
            let task = Task { [weak self] in
                try? await Task.sleep(for: Self.retiredClientLifetime)
                guard !Task.isCancelled, let self else { return }
                let due = self.state.withLockedValue { state in
                    let ids = Set(retired.map(ObjectIdentifier.init))
                    defer { state.retiredClients.removeAll { ids.contains(ObjectIdentifier($0)) } }
                    return state.retiredClients.filter { ids.contains(ObjectIdentifier($0)) }
                }
                for client in due { await client.shutdown() }
            }
            state.withLockedValue { $0.background.append(task) }
        }
        if !restart.isEmpty {
            logger.warning("configuration reload: changed sections take effect after a restart; the running values stay",
                           metadata: ["relay.restart-needed": "\(restart.joined(separator: ","))"])
        }
        logger.notice("configuration reloaded", metadata: [
            "relay.applications": "\(effective.applications.count)", "relay.routes": "\(effective.routes.count)",
            "relay.users": "\(effective.access.users.count)",
            "relay.restart-needed": "\(restart.isEmpty ? "none" : restart.joined(separator: ","))",
        ])
        for warning in effective.warnings {
            logger.warning("configuration: \(warning)")
        }
        return restart
    }

    /// Checks `clients`' tokens every ``tokenCheckInterval`` (for `/readyz`), in place of the
    /// clients checked before.
    func watchTokens(_ clients: GraphClients) {
        let logger = self.logger
        let interval = tokenCheckInterval
        let task = Task { await clients.watchTokens(every: interval, logger: logger) }
        let previous = state.withLockedValue { state in
            defer { state.tokenWatch = task }
            return state.tokenWatch
        }
        previous?.cancel()
    }
}

extension RelayService {
    /// Reads `file` again and puts it in force (``reload(_:)``). An invalid file — or one whose
    /// TLS certificate or application cannot be loaded — changes nothing: each problem is logged
    /// with its key and line, and `graph_relay_config_reloads_total{outcome="failure"}` counts it.
    /// Returns whether the new configuration is in force.
    @discardableResult
    public func reloadConfiguration(from file: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        do {
            let new = try RelayConfiguration.load(contentsOfFile: file, environment: environment)
            try reload(new)
            metrics.configurationReloaded(success: true)
            return true
        } catch let error as ConfigurationError {
            for issue in error.issues {
                logger.error("configuration reload failed; the running configuration stays in force", metadata: [
                    "relay.config": "\(file)", "relay.key": "\(issue.path.isEmpty ? "-" : issue.path)",
                    "relay.line": "\(issue.line.map(String.init) ?? "-")", "relay.problem": "\(issue.message)",
                ])
            }
        } catch {
            logger.error("configuration reload failed; the running configuration stays in force", metadata: [
                "relay.config": "\(file)", "relay.problem": "\(error)",
            ])
        }
        metrics.configurationReloaded(success: false)
        return false
    }
}
