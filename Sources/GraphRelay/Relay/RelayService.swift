import Foundation
import GraphRelayDelivery
import GraphRelayGraph
import GraphRelaySMTP
import GraphRelaySpool
import GraphRelayTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// graph-relay as a whole: the SMTP listeners, the relay policy, the spool and the Graph
/// clients, started and stopped together.
public final class RelayService: Sendable {
    /// The configuration in force: the one it started with, or the last one a reload applied
    /// (with the sections that need a restart kept as they were; docs/operations.md, "Reload").
    public var configuration: RelayConfiguration { state.withLockedValue { $0.configuration } }
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup
    let state: NIOLockedValueBox<State>

    struct State {
        var configuration: RelayConfiguration
        var server: SMTPServer?
        var clients: GraphClients?
        var background: [Task<Void, Never>] = []
        var listeners: [SMTPBoundListener] = []
        var reloadable: [ReloadableTLSContext] = []
        var spool: Spool?
        var agent: DeliveryAgent?
        var admin: AdminServer?
        var deliveryAgentTuning: @Sendable (inout DeliveryAgentConfiguration) -> Void = { _ in }
        var spoolTuning: @Sendable (inout SpoolConfiguration) -> Void = { _ in }
        var tokenCheckInterval: Duration = .seconds(30)
        /// What the delivery agent delivers with (replaced by a reload).
        var spoolDelivery: SpoolDelivery?
        /// The task that checks the applications' tokens (replaced by a reload).
        var tokenWatch: Task<Void, Never>?
        /// Graph clients a reload replaced, shut down once their requests must be over.
        var retiredClients: [GraphClient] = []
    }

    /// How often certificate files are checked for changes. Default 60 s.
    public let tlsReloadInterval: Duration
    /// What `/metrics` exports (one registry per service).
    let metrics: RelayMetrics
    /// The last deliveries, for the status page.
    let history = DeliveryHistory()

    public init(configuration: RelayConfiguration, logger: Logger,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                tlsReloadInterval: Duration = .seconds(60)) {
        self.state = NIOLockedValueBox(State(configuration: configuration))
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        self.tlsReloadInterval = tlsReloadInterval
        self.metrics = RelayMetrics(mailboxLabels: configuration.admin.mailboxLabels,
                                    applications: configuration.applications.map(\.name))
    }

    /// Counts a finished delivery attempt and keeps it for the status page.
    var reportDelivery: @Sendable (DeliveryReport) -> Void {
        { [metrics, history] report in
            metrics.record(report)
            history.append(report)
        }
    }

    /// Adjusts delivery-agent settings that have no configuration key (token-failure pause, kick
    /// polling, …) when ``start()`` creates the agent. For tests, which need pauses of milliseconds
    /// instead of the production defaults; set it before ``start()``.
    var deliveryAgentTuning: @Sendable (inout DeliveryAgentConfiguration) -> Void {
        get { state.withLockedValue { $0.deliveryAgentTuning } }
        set { state.withLockedValue { $0.deliveryAgentTuning = newValue } }
    }

    /// Adjusts spool settings that have no configuration key (slots, spares) when ``start()``
    /// opens the spool. For tests; set it before ``start()``.
    var spoolTuning: @Sendable (inout SpoolConfiguration) -> Void {
        get { state.withLockedValue { $0.spoolTuning } }
        set { state.withLockedValue { $0.spoolTuning = newValue } }
    }

    /// How often every application's token is checked (for `/readyz`; a cached token costs
    /// nothing). Default 30 s; tests shorten it. Set it before ``start()``.
    var tokenCheckInterval: Duration {
        get { state.withLockedValue { $0.tokenCheckInterval } }
        set { state.withLockedValue { $0.tokenCheckInterval = newValue } }
    }

    /// The listeners' bound addresses (real ports when a listener asked for port 0).
    public var listeners: [SMTPBoundListener] { state.withLockedValue { $0.listeners } }

    /// Starts everything; returns once every listener is bound.
    @discardableResult
    public func start() async throws -> [SMTPBoundListener] {
        let configuration = self.configuration
        let clients = try GraphClients(configuration: configuration, eventLoopGroup: eventLoopGroup, metricsFactory: metrics.factory)
        state.withLockedValue { $0.clients = clients }
        let tls = try TLSSources(configuration)
        // Messages being received spill to disk on the spool's file system (its tmp/), never /tmp.
        let spillDirectory = configuration.spool.directory + "/tmp"
        var spool: Spool?
        switch configuration.delivery {
        case .synchronous:
            try Self.makePrivateDirectory(configuration.spool.directory)
            try Self.makePrivateDirectory(spillDirectory)
        case .queue:
            spool = try startSpool(clients: clients)
        }
        let front = makeFront(configuration, clients: clients, spool: spool, tls: tls)
        var smtpLogger = logger
        smtpLogger[metadataKey: "relay.component"] = "smtp"
        let server = SMTPServer(
            configuration: front.server, policy: front.policy, authenticator: front.authenticator,
            messageStore: SMTPSpillingMessageStore(directory: spillDirectory),
            metrics: metrics.smtp,
            logger: smtpLogger
        )
        state.withLockedValue { $0.server = server }
        if let agent = state.withLockedValue({ $0.agent }) {
            try await agent.start()
        }
        let bound = try await server.start(on: eventLoopGroup)
        state.withLockedValue { $0.listeners = bound }
        for listener in bound {
            logger.notice("listening for SMTP", metadata: [
                "smtp.listener": "\(listener.configuration.name)", "smtp.address": "\(listener.address)",
                "smtp.tls": "\(listener.configuration.tls)",
            ])
        }
        if let address = configuration.admin.address {
            let router = AdminRouter(bearerToken: configuration.admin.bearerToken?.revealedValue, sources: AdminRouter.Sources(
                readiness: { [weak self] in
                    self?.readiness() ?? ReadinessReport(checks: [.init(name: "relay", ok: false, detail: "stopped")])
                },
                metrics: { [weak self] in await self?.metricsExposition() ?? "" },
                statusPage: { [weak self] in await self?.statusPage() ?? "" }
            ))
            let admin = try await AdminServer.start(host: address.host, port: address.port, router: router, on: eventLoopGroup)
            state.withLockedValue { $0.admin = admin }
            let port = admin.address.port ?? address.port
            let host = address.host.contains(":") ? "[\(address.host)]" : address.host
            logger.notice("admin listening: / (status), /metrics, /healthz, /readyz", metadata: [
                "admin.address": "\(admin.address)", "admin.url": "http://\(host):\(port)/",
            ])
        }
        for warning in configuration.warnings {
            logger.warning("configuration: \(warning)")
        }

        state.withLockedValue { $0.reloadable = tls.reloadable }
        watchTokens(clients)
        return bound
    }

    /// Creates `path` (mode 0700) unless it exists; a clear error when it cannot.
    private static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
        throw ConfigurationError(file: nil, issues: [ConfigurationIssue(
            path: "spool.directory",
            message: "cannot create \(path): \(String(cString: strerror(errno))) (messages being received are kept there, also with delivery: synchronous)"
        )])
    }

    /// The spool's delivery counters (`delivery: queue`).
    public var deliveryMetrics: DeliveryMetrics? {
        get async { await state.withLockedValue({ $0.agent })?.metrics }
    }

    /// Opens the spool (recovering it after a crash) and starts its delivery agent.
    private func startSpool(clients: GraphClients) throws -> Spool {
        var spoolLogger = logger
        spoolLogger[metadataKey: "relay.component"] = "spool"
        var spoolConfiguration = SpoolConfiguration()
        // Empty files made in the background after a start, so that the first burst of mail
        // writes into existing files like later ones do (docs/spool.md, "Spares").
        spoolConfiguration.preallocatedFiles = SpoolConfiguration.serverPreallocatedFiles
        spoolConfiguration.slots = SpoolConfiguration.serverSlots
        state.withLockedValue { $0.spoolTuning }(&spoolConfiguration)
        let spool = try Spool(directory: configuration.spool.directory, configuration: spoolConfiguration, logger: spoolLogger)
        let report = spool.recoveryReport
        spoolLogger.notice("spool opened: \(report)", metadata: ["relay.spool": "\(configuration.spool.directory)"])
        var agentConfiguration = DeliveryAgentConfiguration()
        agentConfiguration.scheduler.concurrencyPerMailbox = configuration.scheduler.concurrencyPerMailbox
        agentConfiguration.scheduler.messagesPerMinute = Double(configuration.scheduler.messagesPerMinute)
        agentConfiguration.scheduler.retry = RetryPolicy(
            initial: configuration.spool.retry.initial, maximum: configuration.spool.retry.maximum,
            lifetime: configuration.spool.retry.lifetime, multiplier: configuration.spool.retry.multiplier
        )
        agentConfiguration.bounces = BouncePolicy(enabled: configuration.bounces.enabled, adminAddress: configuration.bounces.adminAddress)
        agentConfiguration.reportingMTA = configuration.smtp.hostname
        // Messages that go through drafts and upload sessions share each mailbox's upload budget.
        agentConfiguration.scheduler.uploadCostThreshold = GraphClientConfiguration().maxMessageSize
        agentConfiguration.scheduler.uploadBytesPerWindow = configuration.scheduler.uploadLimit
        state.withLockedValue { $0.deliveryAgentTuning }(&agentConfiguration)
        var deliveryLogger = logger
        deliveryLogger[metadataKey: "relay.component"] = "delivery"
        let delivery = SpoolDelivery(delivery: GraphDelivery(clients: clients, graph: configuration.graph), spool: spool, logger: deliveryLogger)
        // Each attempt takes the delivery in force (a reload replaces the Graph clients).
        let current: @Sendable () -> SpoolDelivery = { [state] in state.withLockedValue { $0.spoolDelivery } ?? delivery }
        let agent = DeliveryAgent(spool: spool, configuration: agentConfiguration, logger: deliveryLogger,
                                  abandon: { record in await current().abandon(record) }, report: reportDelivery) { message in
            await current().deliver(message)
        }
        state.withLockedValue {
            $0.spool = spool
            $0.agent = agent
            $0.spoolDelivery = delivery
        }
        return spool
    }

    /// Re-reads the TLS certificate and key now (SIGHUP). New connections use the new files.
    public func reloadCertificates() {
        for context in state.withLockedValue({ $0.reloadable }) {
            Self.reloadCertificates(context, logger: logger, force: true)
        }
    }

    /// Re-reads the TLS certificate and key if their files changed (``tlsReloadInterval``).
    func reloadChangedCertificates() {
        for context in state.withLockedValue({ $0.reloadable }) {
            Self.reloadCertificates(context, logger: logger)
        }
    }

    /// Whether there is a TLS certificate to reload.
    var hasCertificates: Bool { state.withLockedValue { !$0.reloadable.isEmpty } }

    private static func reloadCertificates(_ reloadable: ReloadableTLSContext, logger: Logger, force: Bool = false) {
        do {
            if force {
                try reloadable.reload()
                logger.notice("TLS certificate reloaded")
            } else if try reloadable.reloadIfChanged() {
                logger.notice("TLS certificate files changed: reloaded for new connections")
            }
        } catch {
            logger.error("TLS certificate reload failed, keeping the previous certificate: \(error)")
        }
    }

    /// Stops accepting, answers `421 4.3.2` to open sessions (after a delivery in progress
    /// finishes, up to `gracePeriod`), lets the delivery agent finish or release what it is
    /// sending, closes the spool, then the Graph clients. `serve` does the same in two steps
    /// (``stopListening(gracePeriod:)``, then ``stopDelivery(gracePeriod:)``) as its
    /// `ServiceGroup` shuts down (``services(gracePeriod:)``).
    public func shutdown(gracePeriod: TimeAmount = .seconds(30)) async {
        await stopListening(gracePeriod: gracePeriod)
        await stopDelivery(gracePeriod: gracePeriod)
        await stopAdmin()
        logger.notice("stopped")
    }

    /// The admin listener's address (the real port when `admin.address` asked for port 0).
    public var adminAddress: SocketAddress? { state.withLockedValue { $0.admin?.address } }

    /// Closes the admin listener: the last part to stop, so that probes see the drain.
    func stopAdmin() async {
        let admin = state.withLockedValue { state in
            defer { state.admin = nil }
            return state.admin
        }
        await admin?.close()
    }

    /// Closes the listeners at once; open sessions may finish the transaction under way for
    /// `gracePeriod`, then get `421 4.3.2`.
    func stopListening(gracePeriod: TimeAmount) async {
        let server = state.withLockedValue { state in
            defer { state.server = nil }
            return state.server
        }
        guard let server else { return }
        await server.shutdown(gracePeriod: gracePeriod)
        logger.notice("SMTP listeners stopped")
    }

    /// Lets deliveries in flight finish or go back to the queue (nothing is dropped), closes the
    /// spool, then the Graph clients.
    func stopDelivery(gracePeriod: TimeAmount) async {
        let (clients, tasks, agent, spool, retired) = state.withLockedValue { state in
            defer {
                state.background = []
                state.tokenWatch = nil
                state.agent = nil
                state.spool = nil
                state.clients = nil
                state.retiredClients = []
            }
            return (state.clients, state.background + [state.tokenWatch].compactMap { $0 }, state.agent, state.spool, state.retiredClients)
        }
        tasks.forEach { $0.cancel() }
        await agent?.stop(gracePeriod: .seconds(Int64(gracePeriod.nanoseconds / 1_000_000_000)))
        await spool?.close()
        await clients?.shutdown()
        for client in retired { await client.shutdown() }
        if agent != nil || spool != nil || clients != nil { logger.notice("delivery stopped") }
    }

    private static func pemText(_ source: PEMSource) throws -> String {
        switch source {
        case .pem(let text): text
        case .file(let path): try String(contentsOfFile: path, encoding: .utf8)
        }
    }
}
