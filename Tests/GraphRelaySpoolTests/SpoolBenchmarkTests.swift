import Foundation
import GraphRelaySpoolTestSupport
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import GraphRelaySpool

/// Durable acceptance throughput, with and without group commit. Not part of the normal run
/// (no timed assertions in tests): `GRAPH_RELAY_BENCH=1 swift test --filter SpoolBenchmark`.
@Suite("Spool benchmark")
struct SpoolBenchmarkTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["GRAPH_RELAY_BENCH"] != nil))
    func durableCommits() async throws {
        let messages = Int(ProcessInfo.processInfo.environment["GRAPH_RELAY_BENCH_MESSAGES"] ?? "") ?? 2000
        let sessions = Int(ProcessInfo.processInfo.environment["GRAPH_RELAY_BENCH_SESSIONS"] ?? "") ?? 20
        let body = sampleMessage(seed: 1, size: 10 * 1024)
        for (grouped, concurrent) in [(false, 1), (true, 1), (true, 4), (true, 8)] {
            var configuration = SpoolConfiguration()
            configuration.groupCommit = grouped
            configuration.concurrentDirectorySyncs = concurrent
            configuration.ioThreads = max(8, sessions)
            let directory = TemporaryDirectory("bench")
            defer { directory.remove() }
            let spool = try Spool(directory: directory.path, configuration: configuration, logger: quietLogger)
            let latencies = NIOLockedValueBox<[Double]>([])
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for session in 0..<sessions {
                    group.addTask {
                        for _ in stride(from: session, to: messages, by: sessions) {
                            let began = ContinuousClock.now
                            try await spoolMessage(spool, body, chunk: 4096)
                            let took = ContinuousClock.now - began
                            latencies.withLockedValue { $0.append(Self.seconds(took) * 1000) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = Self.seconds(ContinuousClock.now - start)
            let sorted = latencies.withLockedValue { $0 }.sorted()
            let stats = spool.queueSyncer.statistics
            print(
                "spool bench: groupCommit=\(grouped) concurrentDirectorySyncs=\(concurrent) messages=\(messages) sessions=\(sessions) size=10KiB "
                    + "rate=\(Int(Double(messages) / elapsed))/s p50=\(String(format: "%.2f", sorted[sorted.count / 2]))ms "
                    + "p99=\(String(format: "%.2f", sorted[sorted.count * 99 / 100]))ms dirFsyncs=\(stats.syncs) commits=\(stats.requests)"
            )
            await spool.close()
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
