import Foundation

/// Runs real SMTP clients (swaks, curl, python3) from async tests on a dedicated thread, so the
/// waiting never blocks Swift's cooperative pool (the listener's policy calls run there: blocking it
/// from a test could starve the server under test).
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
                    let result = try ProcessRunner.run(name, arguments, input: input, environment: environment, timeout: timeout)
                    continuation.resume(returning: result)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
