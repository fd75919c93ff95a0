import NIOCore
import ServiceLifecycle

/// Keeps systemd informed (`Type=notify`): `READY=1` once the group runs — the listeners are
/// bound and the spool recovered before it starts — `WATCHDOG=1` every half `WatchdogSec=` while
/// an event loop still runs work (a wedged relay misses it and is restarted), and `STOPPING=1` as
/// soon as the group begins to shut down: it is the last service, so the first to be stopped.
struct SystemdNotifyService: Service {
    let notifier: SystemdNotifier
    let eventLoopGroup: any EventLoopGroup
    /// The `STATUS=` text shown by `systemctl status`.
    let status: String

    func run() async throws {
        guard notifier.isActive else {
            try? await gracefulShutdown()
            return
        }
        notifier.notify("READY=1\nSTATUS=\(status)")
        if let interval = notifier.watchdogInterval {
            let (notifier, group) = (self.notifier, self.eventLoopGroup)
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    if (try? await group.next().submit({}).get()) != nil {
                        notifier.notify("WATCHDOG=1")
                    }
                    try? await Task.sleep(for: interval)
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        notifier.notify("STOPPING=1\nSTATUS=stopping: listeners closed, deliveries finishing")
    }
}
