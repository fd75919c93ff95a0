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
///
/// The child's pipes are read, and the child waited for, on dedicated threads — never on
/// Dispatch's global queues or Swift's cooperative pool: on Linux those are the threads async
/// tests and in-process servers run on, and a thread blocked in `read` there can starve the very
/// server the child is talking to. From async code the `async` overload is chosen automatically and
/// suspends instead of blocking.
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

    /// Runs `name` with `arguments`, feeding `input` on stdin; waits at most `timeout` seconds.
    public static func run(
        _ name: String,
        _ arguments: [String],
        input: Data? = nil,
        environment: [String: String]? = nil,
        timeout: TimeInterval = 30
    ) async throws -> ProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result {
                    try runBlocking(name, arguments, input: input, environment: environment, timeout: timeout)
                })
            }
        }
    }

    /// The blocking form, for synchronous code (e.g. generating test certificates).
    public static func run(
        _ name: String,
        _ arguments: [String],
        input: Data? = nil,
        environment: [String: String]? = nil,
        timeout: TimeInterval = 30
    ) throws -> ProcessResult {
        try runBlocking(name, arguments, input: input, environment: environment, timeout: timeout)
    }

    private static func runBlocking(
        _ name: String, _ arguments: [String], input: Data?, environment: [String: String]?, timeout: TimeInterval
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

        let outReader = PipeReader(stdout.fileHandleForReading)
        let errReader = PipeReader(stderr.fileHandleForReading)
        if let input {
            // A program may exit without reading all of its input (a refused handshake): the write
            // then fails with EPIPE, which is the program's answer, not the runner's failure.
            try? stdin.fileHandleForWriting.write(contentsOf: input)
        }
        try? stdin.fileHandleForWriting.close()

        if finished.wait(timeout: .now() + timeout) == .timedOut {
            // SIGKILL: a child inherits the test runner's blocked signal mask, so SIGTERM may never arrive.
            kill(process.processIdentifier, SIGKILL)
            _ = finished.wait(timeout: .now() + 5)
            let printed = outReader.wait(seconds: 5) + errReader.wait(seconds: 5)
            throw ProcessError.timedOut(command: ([name] + arguments).joined(separator: " "),
                                        output: String(decoding: printed, as: UTF8.self))
        }
        let out = outReader.wait(seconds: 10)
        let err = errReader.wait(seconds: 10)
        return ProcessResult(
            status: process.terminationStatus,
            stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self),
            stdoutData: out
        )
    }
}

/// Reads a pipe to its end on its own thread.
private final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            let bytes = handle.readDataToEndOfFile()
            lock.lock()
            data = bytes
            lock.unlock()
            done.signal()
        }
    }

    func wait(seconds: TimeInterval) -> Data {
        _ = done.wait(timeout: .now() + seconds)
        lock.lock()
        defer { lock.unlock() }
        return data
    }
}
