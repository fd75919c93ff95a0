import Foundation

/// The real `graph-relay` binary running `serve --config FILE` as a child process, for the queue
/// tests that kill it (`SIGKILL`) and run `graph-relay queue …` beside it. Its SMTP port is read
/// from its "listening for SMTP" log line (the configuration names it: see ``QueueFreePort``).
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
    public static func start(configFile: String, timeout: TimeInterval = 30) async throws -> QueueServerProcess {
        let process = try BackgroundProcess(binary, ["serve", "--config", configFile])
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
    static func listeningPort(in output: String) -> Int? {
        for line in output.split(separator: "\n") where line.contains("listening for SMTP") {
            guard let range = line.range(of: "smtp.address=") else { continue }
            let address = line[range.upperBound...].prefix { $0 != " " }
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

/// A loopback TCP port that was free a moment ago (bound to port 0 and released), for
/// configurations that must name a port.
public enum QueueFreePort {
    public static func next() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw QueueServerError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress -> Int32 in
                guard bind(fd, socketAddress, length) == 0 else { return -1 }
                return getsockname(fd, socketAddress, &length)
            }
        }
        guard bound == 0 else { throw QueueServerError("bind/getsockname: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
