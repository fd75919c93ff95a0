import ArgumentParser
import Foundation
import GraphRelay
import GraphRelaySMTP
import Logging

/// `graph-relay serve --config FILE`: runs the relay as a `ServiceGroup` until SIGTERM or SIGINT;
/// SIGHUP re-reads the configuration file.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay (SIGTERM/SIGINT: graceful stop; SIGHUP: reload the configuration file)."
    )

    @OptionGroup var options: ConfigOption

    @Option(help: "Seconds open sessions get to finish on shutdown before 421 4.3.2 (default: smtp.drainTimeout, 30 s).")
    var shutdownGrace: Int?

    func validate() throws {
        if let shutdownGrace, !(0...86_400).contains(shutdownGrace) {
            throw ValidationError("--shutdown-grace must be between 0 and 86400 seconds, not \(shutdownGrace)")
        }
    }

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let (level, format) = (configuration.logging.level, configuration.logging.format)
        LoggingSystem.bootstrap { label in
            var handler = RelayLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "graph-relay")

        do {
            let limit = try SMTPFileDescriptorLimit.raiseToHardLimit()
            logger.debug("open-file limit raised", metadata: ["relay.nofile": "\(limit)"])
        } catch {
            logger.warning("cannot raise the open-file limit: \(error)")
        }

        let service = RelayService(configuration: configuration, logger: logger)
        do {
            try await service.start()
        } catch {
            logger.critical("cannot start: \(error)")
            await service.shutdown(gracePeriod: .seconds(1))
            throw ExitCode.failure
        }
        logger.notice("graph-relay started", metadata: ["relay.config": "\(options.config)"])

        // SIGTERM/SIGINT shut the group down gracefully: the listeners first, delivery last
        // (RelayService.services). A service manager may start us with these signals blocked.
        Self.unblock([SIGTERM, SIGINT, SIGHUP])
        let group = service.serviceGroup(
            gracePeriod: shutdownGrace.map { .seconds($0) } ?? configuration.smtp.drainTimeout, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger,
            configurationFile: options.config, notifier: SystemdNotifier()
        )
        try await group.run()
        logger.notice("stopped")
    }

    /// Unblocks `signals` in this thread's mask (inherited by the threads started after it).
    private static func unblock(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for number in signals { sigaddset(&set, number) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
