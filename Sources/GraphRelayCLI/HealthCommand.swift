import ArgumentParser
import Foundation
import GraphRelay

/// `graph-relay health [--url URL]`: asks the admin listener and exits 0 only on `200`: the
/// container's HEALTHCHECK without curl in the image.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Ask a running relay's admin listener (exit 0 only on HTTP 200; for container health checks)."
    )

    @Option(help: "The URL to ask: /readyz (ready to take mail) or /healthz (alive).")
    var url: String = "http://127.0.0.1:9025/readyz"

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Int = 5

    func validate() throws {
        guard (1...300).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 300 seconds") }
    }

    func run() async throws {
        let answer = await AdminProbe.get(url, timeout: .seconds(timeout))
        switch answer {
        case .answered(let status, let body):
            print("\(status) \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
            if status != 200 { throw ExitCode.failure }
        case .failed(let reason):
            printError("health: \(url): \(reason)")
            throw ExitCode.failure
        }
    }
}
