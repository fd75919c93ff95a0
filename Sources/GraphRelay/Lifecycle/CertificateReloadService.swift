import ServiceLifecycle
import UnixSignals

/// Keeps the listeners' TLS certificate current: re-reads the certificate and key every
/// `interval` when their files changed, and at once on SIGHUP. New connections use the new
/// files; a reload that fails keeps the previous certificate (and says so in the log).
struct CertificateReloadService: Service {
    let relay: RelayService
    let interval: Duration
    /// Told `RELOADING=1` and `READY=1` around a reload on SIGHUP (`systemctl reload`).
    let notifier: SystemdNotifier

    func run() async throws {
        let relay = self.relay
        let interval = self.interval
        let notifier = self.notifier
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
                    notifier.notifyReloading()
                    relay.reloadCertificates()
                    notifier.notify("READY=1")
                }
            }
            group.addTask {
                guard relay.hasCertificates else { return }
                await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        if Task.isCancelled { break }
                        relay.reloadChangedCertificates()
                    }
                }
            }
        }
    }
}
