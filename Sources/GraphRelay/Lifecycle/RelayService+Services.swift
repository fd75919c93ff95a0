import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

extension RelayService {
    /// What `serve` runs as a `ServiceGroup`, once ``start()`` has bound the listeners and opened
    /// the spool: the admin listener, delivery, the SMTP listeners and the reloader (SIGHUP:
    /// `configurationFile` again, or the certificates alone without one), in that order. On a
    /// graceful shutdown (SIGTERM, SIGINT) the group stops them in reverse order, each after the
    /// one before it has finished:
    ///
    /// 1. the reloader stops answering SIGHUP and watching the certificate files;
    /// 2. the listeners close at once, and open sessions may finish the transaction under way
    ///    for `gracePeriod` before they get `421 4.3.2`;
    /// 3. deliveries in flight finish or go back to the queue, the spool is closed, then the
    ///    Graph clients;
    /// 4. the admin listener closes (`/readyz` answered 503 from step 2 on).
    ///
    /// Under systemd (`notifier`) a last service reports readiness, the watchdog and the stop.
    public func services(gracePeriod: Duration, configurationFile: String? = nil,
                         notifier: SystemdNotifier = SystemdNotifier(environment: [:])) -> [any Service] {
        [
            AdminService(relay: self),
            DeliveryService(relay: self, gracePeriod: gracePeriod),
            SMTPListenerService(relay: self, gracePeriod: gracePeriod),
            ReloadService(relay: self, interval: tlsReloadInterval, configurationFile: configurationFile, notifier: notifier),
            SystemdNotifyService(notifier: notifier, eventLoopGroup: eventLoopGroup, status: readinessStatus),
        ]
    }

    /// `systemctl status`'s line once running: the listeners' addresses.
    var readinessStatus: String {
        "listening on " + listeners.map { "\($0.address)" }.joined(separator: ", ")
    }

    /// The `ServiceGroup` of ``services(gracePeriod:)``, shut down gracefully by
    /// `gracefulShutdownSignals`. Any service that ends on its own, or fails, cancels the group.
    public func serviceGroup(gracePeriod: Duration, gracefulShutdownSignals: [UnixSignal], logger: Logger,
                             configurationFile: String? = nil,
                             notifier: SystemdNotifier = SystemdNotifier(environment: [:])) -> ServiceGroup {
        ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services(gracePeriod: gracePeriod, configurationFile: configurationFile, notifier: notifier).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: gracefulShutdownSignals,
            logger: logger
        ))
    }
}

/// The spool, the delivery agent and the Graph clients: running from ``RelayService/start()``
/// until the group shuts down, then stopped with nothing dropped.
struct DeliveryService: Service {
    let relay: RelayService
    let gracePeriod: Duration

    func run() async throws {
        try? await gracefulShutdown()
        await relay.stopDelivery(gracePeriod: TimeAmount(gracePeriod))
    }
}

/// The admin listener: serving from ``RelayService/start()`` to the very end, so that `/readyz`
/// answers 503 while the rest drains.
struct AdminService: Service {
    let relay: RelayService

    func run() async throws {
        try? await gracefulShutdown()
        await relay.stopAdmin()
    }
}

/// The SMTP listeners: serving from ``RelayService/start()`` until the group shuts down, then
/// closed, with open sessions given `gracePeriod` to finish their transaction.
struct SMTPListenerService: Service {
    let relay: RelayService
    let gracePeriod: Duration

    func run() async throws {
        try? await gracefulShutdown()
        await relay.stopListening(gracePeriod: TimeAmount(gracePeriod))
    }
}
