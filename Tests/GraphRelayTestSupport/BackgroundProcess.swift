import Foundation

/// A long-running real program (e.g. `openssl s_server`) started for a test and always stopped
/// at the end. Its stdout and stderr are collected; ``waitForOutput(containing:timeout:)`` waits
/// until a given text appears.
public final class BackgroundProcess: @unchecked Sendable {
    private let process = Process()
    private let collector: PipeCollector
    private let stdinPipe = Pipe()

    /// - Parameter environment: variables added to (or replacing) the test runner's own.
    public init(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        guard let executable = ProcessRunner.which(name) else { throw ProcessError.notFound(name) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = stdinPipe
        collector = PipeCollector(pipe)
        try process.run()
    }

    deinit {
        stop()
    }

    /// Everything the program printed so far (stdout and stderr).
    public var text: String { collector.text }

    public var isRunning: Bool { process.isRunning }

    /// The child's process id.
    public var pid: Int32 { process.processIdentifier }

    /// The exit status once the program has exited.
    public var terminationStatus: Int32 { process.terminationStatus }

    /// Writes to the program's standard input. Returns false when the program no longer reads it
    /// (it has exited or closed its input).
    @discardableResult
    public func send(_ text: String) -> Bool {
        (try? stdinPipe.fileHandleForWriting.write(contentsOf: Data(text.utf8))) != nil
    }

    /// Waits until the output contains `needle`; returns the whole output, or nil on timeout.
    public func waitForOutput(containing needle: String, timeout: TimeInterval = 10) async -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let current = text
            if current.contains(needle) { return current }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return nil
    }

    /// Waits for the program to exit by itself; returns false on timeout.
    public func waitForExit(timeout: TimeInterval = 10) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning { return true }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return false
    }

    public func stop() {
        if process.isRunning {
            // SIGKILL: a child inherits the test runner's blocked signal mask, so SIGTERM may never arrive.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
