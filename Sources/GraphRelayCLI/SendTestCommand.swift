import ArgumentParser
import GraphRelay
import Logging
import NIOPosix

/// `graph-relay send-test --config F --from ADDR --to ADDR [--subject S] [--attach FILE] [--user NAME]`:
/// one message straight through Graph, each step printed; exit 0 only when Graph accepted it.
struct SendTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-test",
        abstract: "Send one message straight through Microsoft Graph (not through the queue), printing each step.",
        discussion: """
            Routes the message as mail from --from would be routed, obtains the application's token and \
            submits the message; exit status 0 only when Graph accepted it. Run it first against a real tenant.
            """
    )

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("The envelope sender (routes are chosen by it).", valueName: "ADDR")) var from: String
    @Option(help: ArgumentHelp("A recipient; repeat for more.", valueName: "ADDR")) var to: [String]
    @Option(help: "The subject.") var subject = "graph-relay send-test"
    @Option(help: ArgumentHelp("A file to attach (a large one takes the draft path).", valueName: "FILE")) var attach: String?
    @Option(help: ArgumentHelp("Route as this authenticated user.", valueName: "NAME")) var user: String?

    func run() async throws {
        let configuration = try options.loadConfiguration()
        // Steps on standard output; the relay's own warnings and errors on standard error.
        let format = configuration.logging.format
        LoggingSystem.bootstrap { label in
            var handler = RelayLogHandler(label: label, format: format)
            handler.logLevel = .warning
            return handler
        }
        let test = SendTest(from: from, to: to, subject: subject, attachment: attach, user: user)
        let accepted = await test.run(configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                                      logger: Logger(label: "graph-relay")) { print($0) }
        if !accepted { throw ExitCode.failure }
    }
}
