import NIOConcurrencyHelpers
import NIOPosix

/// Group commit for one directory: callers that renamed files into the directory call
/// ``sync()``; one fsync of the directory covers every caller that arrived before it started, so
/// concurrent commits share fsyncs instead of queueing one each.
///
/// A caller that finds fewer than `maxConcurrent` fsyncs running becomes a leader: it takes every
/// caller waiting at that moment and runs one fsync for all of them on the I/O pool, then repeats
/// while callers wait. Callers arriving when `maxConcurrent` fsyncs run wait for the next round
/// (their renames may have missed the running ones). Letting a few fsyncs overlap keeps the
/// latency of one fsync (the filesystem merges overlapping journal commits) while a burst of
/// commits still shares fsyncs. With `grouped == false` each call does its own fsync.
final class DirectorySyncer: Sendable {
    private struct State {
        var waiters: [@Sendable (Result<Void, any Error>) -> Void] = []
        var leaders = 0
        var syncs = 0
        var requests = 0
    }

    let path: String
    private let fd: Int32
    private let pool: NIOThreadPool
    private let grouped: Bool
    private let maxConcurrent: Int
    private let faults: SpoolFaultInjector?
    private let state = NIOLockedValueBox(State())
    /// The actual fsync, replaceable in tests (default: fsync of the directory).
    private let syncFunction: @Sendable () throws -> Void

    init(
        path: String,
        pool: NIOThreadPool,
        grouped: Bool,
        maxConcurrent: Int = 1,
        faults: SpoolFaultInjector?,
        syncFunction: (@Sendable () throws -> Void)? = nil
    ) throws(SpoolError) {
        self.path = path
        self.pool = pool
        self.grouped = grouped
        self.maxConcurrent = max(1, maxConcurrent)
        self.faults = faults
        let fd = try Posix.openDirectory(path)
        self.fd = fd
        self.syncFunction = syncFunction ?? { [path] () throws in
            try faults.check(.syncDirectory, path)
            try Posix.fsync(fd, path: path)
        }
    }

    deinit {
        Posix.close(fd)
    }

    /// (fsyncs done, sync requests) so far, for measurements and tests.
    var statistics: (syncs: Int, requests: Int) {
        state.withLockedValue { ($0.syncs, $0.requests) }
    }

    /// Returns once an fsync of the directory that started after this call has completed.
    func sync() async throws {
        if !grouped {
            state.withLockedValue {
                $0.syncs += 1
                $0.requests += 1
            }
            let function = syncFunction
            try await runOnPool(function)
            return
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            if join({ continuation.resume(with: $0) }) {
                pool.submit { [self] workState in
                    guard case .active = workState else {
                        self.failAll(SpoolError.closed)
                        return
                    }
                    self.leaderLoop()
                }
            }
        }
    }

    /// Runs `work` (which renames files into the directory) on the I/O pool, then waits for an
    /// fsync of the directory as ``sync()`` does — in one trip to the pool: if no fsync is free
    /// to start, the thread that ran `work` leads the next one itself. Errors of `work` are
    /// thrown as they are, without syncing.
    func sync<T: Sendable>(after work: @escaping @Sendable () throws -> T) async throws -> T {
        if !grouped {
            let function = syncFunction
            return try await runBlocking(on: pool) { () throws -> T in
                let value = try work()
                self.state.withLockedValue {
                    $0.syncs += 1
                    $0.requests += 1
                }
                try function()
                return value
            }
        }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            pool.submit { [self] workState in
                guard case .active = workState else {
                    continuation.resume(throwing: SpoolError.closed)
                    return
                }
                let value: T
                do {
                    value = try work()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                if self.join({ continuation.resume(with: $0.map { value }) }) {
                    self.leaderLoop()
                }
            }
        }
    }

    /// Adds a waiter; returns true when the caller must run ``leaderLoop()`` (fewer than
    /// `maxConcurrent` fsyncs are running).
    private func join(_ waiter: @escaping @Sendable (Result<Void, any Error>) -> Void) -> Bool {
        state.withLockedValue { state -> Bool in
            state.requests += 1
            state.waiters.append(waiter)
            if state.leaders >= maxConcurrent { return false }
            state.leaders += 1
            return true
        }
    }

    private func leaderLoop() {
        while true {
            let batch = state.withLockedValue { state -> [@Sendable (Result<Void, any Error>) -> Void] in
                let batch = state.waiters
                state.waiters = []
                if batch.isEmpty {
                    state.leaders -= 1
                } else {
                    state.syncs += 1
                }
                return batch
            }
            if batch.isEmpty { return }
            let result = Result { try syncFunction() }
            for waiter in batch { waiter(result) }
        }
    }

    private func failAll(_ error: any Error) {
        let batch = state.withLockedValue { state -> [@Sendable (Result<Void, any Error>) -> Void] in
            let batch = state.waiters
            state.waiters = []
            state.leaders = 0
            return batch
        }
        for waiter in batch { waiter(.failure(error)) }
    }

    private func runOnPool(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await runBlocking(on: pool, body)
    }
}
