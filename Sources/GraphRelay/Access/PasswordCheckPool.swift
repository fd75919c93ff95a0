import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Runs password checks (scrypt/PBKDF2, about 0.1 s of CPU and 32 MiB each by default) on NIO's
/// blocking thread pool, at most ``concurrency`` at once and at most ``queueLimit`` waiting.
///
/// A check that finds the queue full is not run at all (the caller answers `454 4.7.0`), so a
/// flood of AUTH attempts costs bounded CPU, memory and latency instead of an ever longer queue.
final class PasswordCheckPool: Sendable {
    /// Checks running at once. Default: the number of CPU cores.
    let concurrency: Int
    /// Checks waiting for a slot. Default 64 (with two cores and the default hash, about 3 s of work).
    let queueLimit: Int
    private let threadPool: NIOThreadPool
    private let state = NIOLockedValueBox(State())

    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Bool, Never>] = []
    }

    init(concurrency: Int = System.coreCount, queueLimit: Int = 64, threadPool: NIOThreadPool = .singleton) {
        self.concurrency = max(1, concurrency)
        self.queueLimit = max(0, queueLimit)
        self.threadPool = threadPool
    }

    /// Runs `check` when a slot is free; nil without running it when the queue is full (or the
    /// thread pool has shut down).
    func run<T: Sendable>(_ check: @escaping @Sendable () -> T) async -> T? {
        guard await acquire() else { return nil }
        defer { release() }
        return try? await threadPool.runIfActive(check)
    }

    /// Checks running and waiting (for tests).
    var load: (running: Int, waiting: Int) {
        state.withLockedValue { ($0.running, $0.waiting.count) }
    }

    private enum Slot { case run, queued, full }

    private func acquire() async -> Bool {
        await withCheckedContinuation { continuation in
            let slot = state.withLockedValue { state -> Slot in
                if state.running < concurrency {
                    state.running += 1
                    return .run
                }
                guard state.waiting.count < queueLimit else { return .full }
                state.waiting.append(continuation)
                return .queued
            }
            switch slot {
            case .run: continuation.resume(returning: true)
            case .full: continuation.resume(returning: false)
            case .queued: break
            }
        }
    }

    /// Hands the slot to the next waiting check, or frees it.
    private func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
            guard !state.waiting.isEmpty else {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume(returning: true)
    }
}
