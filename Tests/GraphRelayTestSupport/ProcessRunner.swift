import Foundation

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var stdoutData: Data
}

public enum ProcessError: Error, CustomStringConvertible {
    case notFound(String)
    case failed(command: String, result: ProcessResult)
    case timedOut(command: String, output: String)

    public var description: String {
        switch self {
        case .notFound(let name): "\(name) is not installed (make test installs it)"
        case .failed(let command, let result): "\(command) exited \(result.status): \(result.stderr)"
        case .timedOut(let command, let output): "\(command) did not finish in time; it printed: \(output)"
        }
    }
}

/// Runs real programs (openssl, swaks, curl, python3) for interop tests, with a time limit.
public enum ProcessRunner {
    /// The full path of an executable on PATH, or nil.
    public static func which(_ name: String) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `name` with `arguments`, feeding `input` on stdin, and waits at most `timeout` seconds.
    public static func run(
        _ name: String,
        _ arguments: [String],
        input: Data? = nil,
        environment: [String: String]? = nil,
        timeout: TimeInterval = 30
    ) throws -> ProcessResult {
        guard let executable = which(name) else { throw ProcessError.notFound(name) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()

        // Read both pipes concurrently so a chatty process never blocks on a full pipe.
        let outBox = DataBox()
        let errBox = DataBox()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outBox.data = stdout.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errBox.data = stderr.fileHandleForReading.readDataToEndOfFile() }
        if let input {
            stdin.fileHandleForWriting.write(input)
        }
        try? stdin.fileHandleForWriting.close()

        if finished.wait(timeout: .now() + timeout) == .timedOut {
            // SIGKILL: a child inherits the test runner's blocked signal mask, so SIGTERM may never arrive.
            kill(process.processIdentifier, SIGKILL)
            _ = finished.wait(timeout: .now() + 5)
            _ = group.wait(timeout: .now() + 5)
            let printed = String(decoding: outBox.data + errBox.data, as: UTF8.self)
            throw ProcessError.timedOut(command: ([name] + arguments).joined(separator: " "), output: printed)
        }
        group.wait()
        return ProcessResult(
            status: process.terminationStatus,
            stdout: String(decoding: outBox.data, as: UTF8.self),
            stderr: String(decoding: errBox.data, as: UTF8.self),
            stdoutData: outBox.data
        )
    }
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}
