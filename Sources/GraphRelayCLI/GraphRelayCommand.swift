import ArgumentParser
import GraphRelay

/// `graph-relay`: the SMTP-to-Microsoft-Graph relay gateway.
@main
struct GraphRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph-relay",
        abstract: "SMTP-to-Microsoft-Graph relay gateway.",
        discussion: """
            Devices send mail over SMTP; graph-relay submits each message unchanged to Microsoft \
            Graph sendMail, choosing the Entra ID application and mailbox per sender.
            See docs/configuration.md for the configuration file.
            """,
        version: GraphRelayVersion.current,
        subcommands: [ServeCommand.self, CheckConfigCommand.self, SendTestCommand.self, HashPasswordCommand.self, QueueCommand.self, HealthCommand.self],
        defaultSubcommand: nil
    )
}

/// `--config FILE`, shared by every command that reads the configuration.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file (YAML).", valueName: "FILE"))
    var config: String = "/etc/graph-relay/graph-relay.yaml"

    /// The configuration, or every problem printed to standard error and exit status 1.
    func loadConfiguration() throws -> RelayConfiguration {
        do {
            return try RelayConfiguration.load(contentsOfFile: config)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
    }
}
