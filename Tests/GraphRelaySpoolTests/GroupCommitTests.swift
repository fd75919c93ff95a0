import Foundation
import GraphRelaySpoolTestSupport
import NIOConcurrencyHelpers
import NIOPosix
import Testing

@testable import GraphRelaySpool

@Suite("Group commit")
struct GroupCommitTests {
    /// Runs `body` with a syncer on `directory` and a thread pool of the test's own: the tests
    /// hold fsyncs, which on a pool shared with other tests (the singleton) would also wait behind
    /// those tests' work.
    private func withSyncer<T>(
        grouped: Bool = true,
        fsync: @escaping @Sendable (TemporaryDirectory) throws -> Void,
        _ body: (DirectorySyncer, TemporaryDirectory) async throws -> T
    ) async throws -> T {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        defer { pool.shutdownGracefully { _ in } }
        let syncer = try DirectorySyncer(path: directory.path, pool: pool, grouped: grouped, faults: nil) {
            try fsync(directory)
        }
        return try await body(syncer, directory)
    }

    /// A grouped syncer whose first fsync waits for `gate`; `calls` counts the fsyncs.
    private func withGatedSyncer<T>(_ body: (DirectorySyncer, _ calls: NIOLockedValueBox<Int>, _ gate: DispatchSemaphore) async throws -> T) async throws -> T {
        let gate = DispatchSemaphore(value: 0)
        let calls = NIOLockedValueBox(0)
        return try await withSyncer(fsync: { _ in
            let call = calls.withLockedValue { calls -> Int in
                calls += 1
                return calls
            }
            if call == 1 { gate.wait() }
        }) { syncer, _ in
            try await body(syncer, calls, gate)
        }
    }

    @Test("callers arriving during an fsync share the next one")
    func sharedSync() async throws {
        try await withGatedSyncer { syncer, calls, gate in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await syncer.sync() }
                // The first fsync is under way (and held)…
                #expect(await eventually { calls.withLockedValue { $0 } == 1 })
                // …ten more commits arrive meanwhile…
                for _ in 0..<10 { group.addTask { try await syncer.sync() } }
                #expect(await eventually { syncer.statistics.requests == 11 })
                // …and are all covered by one more fsync.
                gate.signal()
                try await group.waitForAll()
            }
            #expect(calls.withLockedValue { $0 } == 2)
            #expect(syncer.statistics.syncs == 2)
        }
    }

    @Test("sync(after:) runs the work first, shares the fsync, returns the work's value; a failing work is not synced")
    func syncAfterWork() async throws {
        let workDone = NIOLockedValueBox(0)
        try await withGatedSyncer { syncer, calls, gate in
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await syncer.sync { workDone.withLockedValue { $0 += 1 }; return 0 } }
                #expect(await eventually { calls.withLockedValue { $0 } == 1 })
                for value in 1...6 {
                    group.addTask { try await syncer.sync { workDone.withLockedValue { $0 += 1 }; return value } }
                }
                // Every work ran before its fsync; those arriving during the held fsync share the next.
                #expect(await eventually { workDone.withLockedValue { $0 } == 7 && syncer.statistics.requests == 7 })
                gate.signal()
                var values: [Int] = []
                for try await value in group { values.append(value) }
                #expect(values.sorted() == Array(0...6))
            }
            #expect(syncer.statistics.syncs == 2)
            await #expect(throws: SpoolError.self) {
                try await syncer.sync { () throws -> Int in throw SpoolError.closed }
            }
            #expect(syncer.statistics.requests == 7)
            #expect(calls.withLockedValue { $0 } == 2)
        }
    }

    @Test("without grouping every caller does its own fsync")
    func ungrouped() async throws {
        let calls = NIOLockedValueBox(0)
        try await withSyncer(grouped: false, fsync: { _ in calls.withLockedValue { $0 += 1 } }) { syncer, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<10 { group.addTask { try await syncer.sync() } }
                try await group.waitForAll()
            }
        }
        #expect(calls.withLockedValue { $0 } == 10)
    }

    @Test("an fsync error reaches every caller it covered")
    func errorReachesAll() async throws {
        try await withSyncer(fsync: { directory in throw SpoolError.io(operation: "fsync", path: directory.path, errno: EIO) }) { syncer, directory in
            let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<5 {
                    group.addTask {
                        do {
                            try await syncer.sync()
                            return false
                        } catch {
                            return error as? SpoolError == .io(operation: "fsync", path: directory.path, errno: EIO)
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(failures == 5)
            // The syncer recovers: the next call runs a new fsync (and fails again, as it should).
            await #expect(throws: SpoolError.self) { try await syncer.sync() }
        }
    }
}
