import ArgumentParser
import Foundation
import GraphRelay
import Logging
import NIOPosix

/// `graph-relay check-config --config FILE [--probe]`: validates the configuration and exits;
/// with `--probe` it also asks Entra ID for each application's token.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration file and exit (0 valid, 1 invalid).",
        discussion: "--probe also obtains a token for every application (nothing is sent) and fails when one cannot."
    )

    @OptionGroup var options: ConfigOption
    @Flag(help: "Also obtain a token for every application from Entra ID.") var probe = false

    func run() async throws {
        let configuration = try options.loadConfiguration()
        for warning in configuration.warnings {
            printError("warning: \(warning)\(warning.line.map { "  [line \($0)]" } ?? "")")
        }
        print("configuration \(options.config) is valid: \(configuration.summary)")
        guard probe else { return }
        let format = configuration.logging.format
        LoggingSystem.bootstrap { label in
            var handler = RelayLogHandler(label: label, format: format)
            handler.logLevel = .critical
            return handler
        }
        let obtained = await TokenProbe.run(configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                                            logger: Logger(label: "graph-relay")) { print($0) }
        if !obtained { throw ExitCode.failure }
    }
}

func printError(_ text: String) {
    try? FileHandle.standardError.write(contentsOf: Data((text + "\n").utf8))
}

extension RelayConfiguration {
    /// One line for operators: what this configuration will do.
    var summary: String {
        let listeners = smtp.listeners.map { "\($0.address) (\($0.tls.rawValue))" }.joined(separator: ", ")
        let sendPath: String
        switch graph.sendVia {
        case .auto: sendPath = "sendMail up to one request, drafts (\(graph.largeMessageFormat.rawValue)) above; needs Mail.Send and Mail.ReadWrite"
        case .drafts: sendPath = "drafts (\(graph.largeMessageFormat.rawValue)) for every message; needs Mail.Send and Mail.ReadWrite"
        case .sendMail: sendPath = "sendMail only; needs Mail.Send"
        }
        return "\(smtp.listeners.count) listener(s) [\(listeners)], \(applications.count) application(s), "
            + "\(routes.count) route(s), \(access.users.count) user(s), \(access.networks.count) trusted network(s), delivery \(delivery.rawValue), "
            + "messages up to \(smtp.maxMessageSize) bytes, \(sendPath)"
    }
}
