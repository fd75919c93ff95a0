import Foundation

/// The real `graph-relay` binary running `serve --config FILE` as a child process, for the queue
/// tests that kill it (`SIGKILL`) and run `graph-relay queue …` beside it. Its SMTP port is read
/// from its "listening for SMTP" log line (configure port 0: the server logs the port it got).
public final class QueueServerProcess: @unchecked Sendable {
    public let process: BackgroundProcess
    /// The first listener's port.
    public let port: Int

    private init(process: BackgroundProcess, port: Int) {
        self.process = process
        self.port = port
    }

    /// The `graph-relay` executable built next to the test bundle.
    public static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("graph-relay").path
    }

    /// Starts `graph-relay serve --config configFile` and waits until it listens.
    public static func start(configFile: String, environment: [String: String] = [:], timeout: TimeInterval = 30) async throws -> QueueServerProcess {
        let process = try BackgroundProcess(binary, ["serve", "--config", configFile], environment: environment)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let port = listeningPort(in: process.text) {
                return QueueServerProcess(process: process, port: port)
            }
            if !process.isRunning {
                throw QueueServerError("graph-relay serve exited before listening:\n\(process.text)")
            }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        let output = process.text
        process.stop()
        throw QueueServerError("graph-relay serve did not listen within \(Int(timeout)) s:\n\(output)")
    }

    /// The port in the first `listening for SMTP` line (`smtp.address=[IPv4]127.0.0.1/127.0.0.1:PORT`).
    public static func listeningPort(in output: String) -> Int? {
        for line in output.split(separator: "\n") where line.contains("listening for SMTP") {
            // Text (`smtp.address=…`) or JSON (`"smtp.address":"…"`) log lines.
            guard let range = line.range(of: "smtp.address") else { continue }
            let address = line[range.upperBound...].drop { $0 == "=" || $0 == "\"" || $0 == ":" }.prefix { $0 != " " && $0 != "\"" }
            guard let colon = address.lastIndex(of: ":") else { continue }
            let digits = address[address.index(after: colon)...].prefix { $0.isNumber }
            if let port = Int(digits), port > 0 { return port }
        }
        return nil
    }

    /// Everything the server printed (stdout and stderr: the log).
    public var output: String { process.text }

    public var isRunning: Bool { process.isRunning }

    /// `kill -9` and wait for the process to be gone.
    public func kill() {
        process.stop()
    }

    /// Runs `graph-relay` with `arguments` (e.g. `queue list --config F`) and returns its result.
    public static func run(_ arguments: [String], timeout: TimeInterval = 30) async throws -> ProcessResult {
        try await ProcessRunner.run(binary, arguments, timeout: timeout)
    }
}

public struct QueueServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
