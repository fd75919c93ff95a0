import ArgumentParser
import Foundation
import GraphRelay

/// `graph-relay serve --config FILE`: runs the relay until SIGTERM/SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay."
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let configuration: RelayConfiguration
        do {
            configuration = try RelayConfiguration.load(contentsOfFile: options.config)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        _ = configuration
        printError("serve: not wired yet")
        throw ExitCode.failure
    }
}
