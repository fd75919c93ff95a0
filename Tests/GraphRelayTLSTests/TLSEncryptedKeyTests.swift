import Foundation
import GraphRelayTLS
import GraphRelayTestSupport
import Testing

@Suite("Passphrase-protected private keys")
struct TLSEncryptedKeyTests {
    /// Runs `body` on its own thread with standard input replaced by a pipe that stays open and
    /// silent: what a passphrase prompt without a terminal would wait on. Returns nil if `body`
    /// has not finished after `timeout` seconds (the pipe is then closed, which ends such a wait).
    private func withSilentStandardInput<T: Sendable>(timeout: TimeInterval, _ body: @escaping @Sendable () -> T) throws -> T? {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        // Not inherited by the programs other tests start meanwhile.
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let saved = dup(0)
        try #require(saved >= 0)
        try #require(dup2(ends[0], 0) == 0)
        defer {
            dup2(saved, 0)
            close(saved)
            close(ends[0])
        }
        let done = DispatchSemaphore(value: 0)
        let result = LockedResult<T>()
        Thread.detachNewThread {
            result.set(body())
            done.signal()
        }
        let finished = done.wait(timeout: .now() + timeout) == .success
        close(ends[1])
        return finished ? result.get() : nil
    }

    @Test("an encrypted private key is refused at once, never prompted for, with standard input open")
    func encryptedKeyIsNotPrompted() throws {
        let pki = TestPKI.shared
        for key in [pki.encryptedServerKey, pki.traditionalEncryptedServerKey] {
            let outcome = try withSilentStandardInput(timeout: 10) { () -> String in
                do {
                    _ = try TLSContext(configuration: .server(certificateChain: .file(pki.serverCertificate), privateKey: .file(key)), role: .server)
                    return "loaded"
                } catch {
                    return "\(error)"
                }
            }
            let message = try #require(outcome, "waited for a passphrase on standard input (\(key))")
            #expect(message.contains("no unencrypted PEM private key in \(key)"), "\(message)")
        }
    }
}

/// A value handed from one thread to another.
private final class LockedResult<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?

    func set(_ newValue: T) {
        lock.lock()
        value = newValue
        lock.unlock()
    }

    func get() -> T? {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
