import ServiceLifecycle
import UnixSignals

/// Reloads on SIGHUP (`systemctl reload`): the whole configuration file when the relay was
/// started from one (``RelayService/reloadConfiguration(from:environment:)``), otherwise the TLS
/// certificate alone. Between reloads it re-reads the certificate and key every `interval` when
/// their files changed. New connections use what was reloaded; a reload that fails keeps what is
/// in force (and says so in the log).
struct ReloadService: Service {
    let relay: RelayService
    let interval: Duration
    /// The configuration file to read again; nil: certificates only.
    let configurationFile: String?
    /// Told `RELOADING=1` and `READY=1` around a reload on SIGHUP.
    let notifier: SystemdNotifier

    func run() async throws {
        let (relay, interval, file, notifier) = (self.relay, self.interval, self.configurationFile, self.notifier)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
                    notifier.notifyReloading()
                    if let file {
                        relay.reloadConfiguration(from: file)
                    } else {
                        relay.reloadCertificates()
                    }
                    notifier.notify("READY=1")
                }
            }
            group.addTask {
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
