import Foundation

/// Runs real SMTP clients (swaks, curl, python3) from async tests without touching Swift's
/// cooperative pool or Dispatch's global queues.
///
/// Why not ``ProcessRunner``: it reads the child's pipes on `DispatchQueue.global()`. On Linux those
/// worker threads are the ones Swift concurrency runs on, and a thread blocked in `read` still
/// counts as busy, so while a client process runs, the listener under test cannot get its policy
/// calls scheduled; the client then waits for a greeting until its own timeout. Here the process is
/// waited for, and its pipes are read, on dedicated threads.
public enum SMTPProcess {
    public static func run(
        _ name: String,
        _ arguments: [String],
        input: Data? = nil,
        environment: [String: String]? = nil,
        timeout: TimeInterval = 30
    ) async throws -> ProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    continuation.resume(returning: try runBlocking(name, arguments, input: input, environment: environment, timeout: timeout))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private static func runBlocking(
        _ name: String, _ arguments: [String], input: Data?, environment: [String: String]?, timeout: TimeInterval
    ) throws -> ProcessResult {
        guard let executable = ProcessRunner.which(name) else { throw ProcessError.notFound(name) }
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
            stdin.fileHandleForWriting.write(input)
        }
        try? stdin.fileHandleForWriting.close()

        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            _ = finished.wait(timeout: .now() + 5)
            throw ProcessError.timedOut(command: ([name] + arguments).joined(separator: " "))
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
