import ArgumentParser
import Dispatch
import Foundation
import GraphRelay
import GraphRelaySMTP
import Logging

/// `graph-relay serve --config FILE`: runs the relay until SIGTERM or SIGINT; SIGHUP re-reads the
/// TLS certificate and key.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay (SIGTERM/SIGINT: graceful stop; SIGHUP: reload the TLS certificate)."
    )

    @OptionGroup var options: ConfigOption

    @Option(help: "Seconds open sessions get to finish on shutdown before 421 4.3.2.")
    var shutdownGrace: Int = 30

    func validate() throws {
        guard (0...86_400).contains(shutdownGrace) else {
            throw ValidationError("--shutdown-grace must be between 0 and 86400 seconds, not \(shutdownGrace)")
        }
    }

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let level = configuration.logging.level
        LoggingSystem.bootstrap { label in
            var handler = RelayLogHandler(label: label)
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

        let signal = await Self.waitForStopSignal { service.reloadCertificates() }
        logger.notice("\(signal) received: shutting down")
        await service.shutdown(gracePeriod: .seconds(Int64(shutdownGrace)))
    }

    /// Waits for SIGTERM or SIGINT (returning its name); calls `onHangUp` for each SIGHUP.
    private static func waitForStopSignal(onHangUp: @escaping @Sendable () -> Void) async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let queue = DispatchQueue(label: "graph-relay.signals")
            let resumed = ResumeOnce(continuation)
            var sources: [DispatchSourceSignal] = []
            for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGHUP, "SIGHUP")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    if number == SIGHUP { onHangUp() } else { resumed.resume(name) }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Keeps the signal sources alive for the life of the process.
private enum SignalSources {
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []
    static func keep(_ new: [DispatchSourceSignal]) { sources += new }
}

private final class ResumeOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<String, Never>?

    init(_ continuation: CheckedContinuation<String, Never>) { self.continuation = continuation }

    func resume(_ value: String) {
        lock.lock()
        let pending = continuation
        continuation = nil
        lock.unlock()
        pending?.resume(returning: value)
    }
}
