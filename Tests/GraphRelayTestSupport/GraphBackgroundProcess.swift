import Foundation

/// A long-running helper process for Graph interop tests (e.g. `openssl s_server`): output is
/// collected as it arrives, ``waitForOutput(containing:timeout:)`` waits for a marker with a time
/// limit, and ``terminate()`` stops it (also on deinit).
public final class GraphBackgroundProcess: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var output = Data()
    private let outputPipe = Pipe()

    /// Starts `name` (looked up on PATH) with `arguments`; stdout and stderr are merged.
    public init(_ name: String, _ arguments: [String]) throws {
        guard let executable = ProcessRunner.which(name) else { throw ProcessError.notFound(name) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = outputPipe
        process.standardError = outputPipe
        process.standardInput = Pipe()
        outputPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.output.append(data)
            self.lock.unlock()
        }
        try process.run()
    }

    deinit {
        terminate()
    }

    /// Everything the process printed so far.
    public var outputText: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: output, as: UTF8.self)
    }

    private var isAlive: Bool {
        let pid = process.processIdentifier
        return pid > 0 && kill(pid, 0) == 0
    }

    /// Waits until the output contains `marker`; returns the output, or throws after `timeout` s
    /// or when the process exits first.
    @discardableResult
    public func waitForOutput(containing marker: String, timeout: TimeInterval = 10) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = outputText
            if text.contains(marker) { return text }
            if !isAlive {
                throw ProcessError.failed(command: process.executableURL?.lastPathComponent ?? "process",
                                          result: ProcessResult(status: process.terminationStatus, stdout: text, stderr: "", stdoutData: Data()))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ProcessError.timedOut(command: "\(process.executableURL?.lastPathComponent ?? "process") waiting for '\(marker)'")
    }

    /// Stops the process and reaps it. SIGKILL, because a child spawned from a test thread may
    /// inherit a signal mask that blocks SIGTERM; POSIX calls directly, because Foundation's
    /// `isRunning` can lag behind on Linux.
    public func terminate() {
        outputPipe.fileHandleForReading.readabilityHandler = nil
        lock.lock()
        defer { lock.unlock() }
        guard !reaped else { return }
        reaped = true
        let pid = process.processIdentifier
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        var status: Int32 = 0
        while Date() < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result == -1 && errno == ECHILD) { return }
            usleep(2_000)
        }
    }

    private var reaped = false
}
