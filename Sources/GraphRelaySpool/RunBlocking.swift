import NIOPosix

/// Runs blocking work on `pool` and waits for it. Unlike `NIOThreadPool.runIfActive`, task
/// cancellation does not skip the work (a spool operation half done because a session was
/// cancelled would be worse); a pool that was shut down throws ``SpoolError/closed``.
func runBlocking<T: Sendable>(on pool: NIOThreadPool, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        pool.submit { state in
            guard case .active = state else {
                continuation.resume(throwing: SpoolError.closed)
                return
            }
            continuation.resume(with: Result(catching: body))
        }
    }
}
