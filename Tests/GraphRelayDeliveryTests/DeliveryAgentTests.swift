import Foundation
import NIOCore
import Testing

@testable import GraphRelayDelivery
import GraphRelaySpool
import GraphRelaySpoolTestSupport

/// A stand-in for the Graph side: records every attempt, answers from a script, can hold
/// deliveries open to observe concurrency.
final class FakeGraph: @unchecked Sendable {
    private let lock = NSLock()
    private var script: (SpooledMessage, Int) -> DeliveryOutcome
    private(set) var attempts: [(id: QueueID, sender: String, mailbox: String)] = []
    private var current = 0
    private(set) var maxConcurrent: [String: Int] = [:]
    private var concurrent: [String: Int] = [:]
    var hold = false
    private var held: [CheckedContinuation<Void, Never>] = []
    var bodies: [QueueID: [UInt8]] = [:]

    init(_ script: @escaping (SpooledMessage, Int) -> DeliveryOutcome = { _, _ in .delivered(requestId: "req") }) {
        self.script = script
    }

    func setScript(_ script: @escaping (SpooledMessage, Int) -> DeliveryOutcome) {
        lock.withLock { self.script = script }
    }

    var attemptCount: Int { lock.withLock { attempts.count } }
    var heldCount: Int { lock.withLock { held.count } }

    func attempts(of id: QueueID) -> Int { lock.withLock { attempts.filter { $0.id == id }.count } }

    func releaseHeld() {
        let waiting = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            hold = false
            defer { held = [] }
            return held
        }
        for continuation in waiting { continuation.resume() }
    }

    func deliver(_ message: SpooledMessage) async -> DeliveryOutcome {
        let mailbox = message.record.route.mailbox
        let (outcome, mustHold) = lock.withLock { () -> (DeliveryOutcome, Bool) in
            let previous = attempts.filter { $0.id == message.id }.count
            attempts.append((message.id, message.record.sender, mailbox))
            concurrent[mailbox, default: 0] += 1
            maxConcurrent[mailbox] = max(maxConcurrent[mailbox] ?? 0, concurrent[mailbox]!)
            return (script(message, previous), hold)
        }
        if let body = try? await readAll(message) {
            lock.withLock { bodies[message.id] = body }
        }
        if mustHold {
            await withCheckedContinuation { continuation in
                lock.withLock {
                    if hold { held.append(continuation) } else { continuation.resume() }
                }
            }
        }
        lock.withLock { concurrent[mailbox, default: 0] -= 1 }
        return outcome
    }
}

extension NSLock {
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

@Suite("Delivery agent")
struct DeliveryAgentTests {
    func configuration(_ change: (inout DeliveryAgentConfiguration) -> Void = { _ in }) -> DeliveryAgentConfiguration {
        var configuration = DeliveryAgentConfiguration()
        configuration.reportingMTA = "relay.example.com"
        configuration.scheduler.messagesPerMinute = 0
        change(&configuration)
        return configuration
    }

    @Test("delivers what was queued before start and what is committed after; each leaves the spool")
    func deliversEverything() async throws {
        try await withSpool { spool, directory in
            let before = try await spoolMessage(spool, sampleMessage(seed: 1, size: 3000))
            let graph = FakeGraph()
            let clock = ManualClock()
            let agent = DeliveryAgent(spool: spool, configuration: configuration(), clock: clock, logger: quietLogger) { await graph.deliver($0) }
            try await agent.start()
            let after = try await spoolMessage(spool, sampleMessage(seed: 2, size: 100_000))
            #expect(await eventually { directory.files("queue").isEmpty })
            #expect(graph.bodies[before.id] == sampleMessage(seed: 1, size: 3000))
            #expect(graph.bodies[after.id] == sampleMessage(seed: 2, size: 100_000))
            let metrics = await agent.metrics
            #expect(metrics.delivered == 2)
            #expect(metrics.queued == 0)
            await agent.stop(gracePeriod: .seconds(1))
        }
    }

    @Test("a transient failure is retried after the backoff, the spool showing the schedule meanwhile")
    func transientThenDelivered() async throws {
        try await withSpool { spool, directory in
            let graph = FakeGraph { _, previous in
                previous == 0 ? .transient(reason: "503 Service Unavailable", ambiguous: true, requestId: "r1") : .delivered(requestId: "r2")
            }
            let clock = ManualClock()
            let agent = DeliveryAgent(spool: spool, configuration: configuration(), clock: clock, logger: quietLogger) { await graph.deliver($0) }
            try await agent.start()
            let record = try await spoolMessage(spool, sampleMessage(seed: 3, size: 500), envelope: envelope(receivedAt: clock.now()))
            #expect(await eventually { (try? await spool.list().first?.lastError) == "503 Service Unavailable" })
            let waiting = try #require(try await spool.list().first)
            #expect(waiting.state == .queued)
            #expect(waiting.attempts == 1)
            #expect(waiting.ambiguousAttempts == 1)
            #expect(waiting.lastRequestId == "r1")
            #expect(waiting.nextAttemptAt == clock.now().addingTimeInterval(300))
            #expect(await agent.metrics.ambiguousRetries == 1)

            clock.advance(by: 299)
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(graph.attempts(of: record.id) == 1)
            clock.advance(by: 1)
            #expect(await eventually { directory.files("queue").isEmpty })
            #expect(graph.attempts(of: record.id) == 2)
            await agent.stop()
        }
    }

    @Test("a permanent failure goes to failed/ and a DSN is queued and delivered from the route's mailbox; a failing DSN does not bounce")
    func permanentFailureBounces() async throws {
        try await withSpool { spool, directory in
            let graph = FakeGraph { message, _ in
                message.record.sender.isEmpty
                    ? .permanent(reason: "the sender's mailbox does not exist either", status: "5.1.1")
                    : .permanent(reason: "ErrorInvalidRecipients", status: "5.1.3", requestId: "r-bad")
            }
            let agent = DeliveryAgent(spool: spool, configuration: configuration(), clock: ManualClock(), logger: quietLogger) { await graph.deliver($0) }
            try await agent.start()
            let record = try await spoolMessage(spool, sampleMessage(seed: 4, size: 700))
            #expect(await eventually { (try? await spool.list(.failed).count) == 2 })
            let failed = try await spool.list(.failed)
            let original = try #require(failed.first { $0.id == record.id })
            #expect(original.failureReason == "ErrorInvalidRecipients")
            #expect(original.failureStatus == "5.1.3")
            #expect(original.lastRequestId == "r-bad")
            let bounceID = try #require(original.bounceId)
            let bounce = try #require(failed.first { $0.id == bounceID })
            #expect(bounce.sender == "")
            #expect(bounce.recipients == ["scanner@printer.local"])
            #expect(bounce.route == SpoolRoute(application: "contoso", mailbox: "noreply@contoso.com", rewriteFrom: false))
            #expect(bounce.attributes["bounceFor"] == record.id.rawValue)
            #expect(bounce.bounceId == nil)
            #expect(bounce.bounceSuppressed?.contains("null sender") == true)
            // The DSN that went to Graph is a proper report about the original.
            let dsn = String(decoding: try #require(graph.bodies[bounceID]), as: UTF8.self)
            #expect(dsn.contains("Content-Type: multipart/report; report-type=delivery-status;"))
            #expect(dsn.contains("Final-Recipient: rfc822; alice@contoso.com"))
            #expect(dsn.contains("Status: 5.1.3"))
            #expect(dsn.contains("Message-ID: <scan-4@printer.local>"))
            #expect(directory.files("queue").isEmpty)
            let metrics = await agent.metrics
            #expect(metrics.failedPermanently == 2)
            #expect(metrics.bouncesQueued == 1)
            #expect(metrics.bouncesSuppressed == 1)
            await agent.stop()
        }
    }

    @Test("expiry after the lifetime fails with 4.4.7; bounces can go to an administrator")
    func expiryToAdmin() async throws {
        try await withSpool { spool, _ in
            let graph = FakeGraph { message, _ in
                message.record.sender.isEmpty ? .delivered(requestId: nil) : .transient(reason: "504 Gateway Timeout")
            }
            let clock = ManualClock()
            let config = configuration {
                $0.scheduler.retry = RetryPolicy(initial: .seconds(10), maximum: .seconds(10), lifetime: .seconds(25))
                $0.bounces = BouncePolicy(adminAddress: "postmaster@contoso.com")
            }
            let agent = DeliveryAgent(spool: spool, configuration: config, clock: clock, logger: quietLogger) { await graph.deliver($0) }
            try await agent.start()
            let record = try await spoolMessage(spool, sampleMessage(seed: 5, size: 300), envelope: envelope(receivedAt: clock.now()))
            for expected in 1...3 {
                #expect(await eventually { graph.attempts(of: record.id) == expected })
                #expect(await eventually { (try? await spool.list().first { $0.id == record.id }?.state) == .queued })
                clock.advance(by: 10)
            }
            #expect(await eventually { (try? await spool.list(.failed).count) == 1 })
            let failed = try #require(try await spool.list(.failed).first)
            #expect(failed.failureStatus == "4.4.7")
            #expect(failed.failureReason?.hasPrefix("message expired: not delivered within 25s; last error: 504 Gateway Timeout") == true)
            #expect(await eventually { graph.attemptCount == 5 })
            #expect(await eventually { (try? await spool.list().isEmpty) == true })
            let bounceID = try #require(failed.bounceId)
            let dsn = String(decoding: try #require(graph.bodies[bounceID]), as: UTF8.self)
            #expect(dsn.contains("To: <postmaster@contoso.com>"))
            #expect(dsn.contains("Status: 4.4.7"))
            #expect(await agent.metrics.expired == 1)
            await agent.stop()
        }
    }

    @Test("never more than 4 deliveries at once per mailbox, however many are queued")
    func concurrencyAgainstGraph() async throws {
        try await withSpool { spool, _ in
            let graph = FakeGraph()
            graph.hold = true
            let agent = DeliveryAgent(spool: spool, configuration: configuration(), clock: ManualClock(), logger: quietLogger) { await graph.deliver($0) }
            for seed in 0..<12 { try await spoolMessage(spool, sampleMessage(seed: seed, size: 200)) }
            for seed in 0..<3 { try await spoolMessage(spool, sampleMessage(seed: seed, size: 200), envelope: envelope(mailbox: "other@contoso.com")) }
            try await agent.start()
            #expect(await eventually { graph.heldCount == 7 })
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(graph.heldCount == 7)
            graph.releaseHeld()
            #expect(await eventually { (try? await spool.list().isEmpty) == true })
            #expect(graph.maxConcurrent["noreply@contoso.com"] == 4)
            #expect(graph.maxConcurrent["other@contoso.com"] == 3)
            #expect(graph.attemptCount == 15)
            await agent.stop()
        }
    }

    @Test("429 pauses the mailbox for Retry-After, then everything is delivered")
    func throttling() async throws {
        try await withSpool { spool, _ in
            let graph = FakeGraph { _, previous in previous == 0 ? .throttled(retryAfter: .seconds(30), requestId: "t") : .delivered(requestId: nil) }
            let clock = ManualClock()
            var config = configuration()
            config.scheduler.concurrencyPerMailbox = 1
            let agent = DeliveryAgent(spool: spool, configuration: config, clock: clock, logger: quietLogger) { await graph.deliver($0) }
            for seed in 0..<3 { try await spoolMessage(spool, sampleMessage(seed: seed, size: 200), envelope: envelope(receivedAt: clock.now())) }
            try await agent.start()
            #expect(await eventually { (try? await spool.list().first?.lastError) == "throttled by Graph (429)" })
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(graph.attemptCount == 1)
            #expect(try await spool.list().first?.nextAttemptAt == clock.now().addingTimeInterval(30))
            #expect(try await spool.list().first?.transientFailures == 0)
            clock.advance(by: 30)
            // Each message gets one 429 (the script): the first is delivered, the second paused…
            // (and the delivered one has left the spool: its result is recorded after the attempt)
            #expect(await eventually {
                let remaining = (try? await spool.list().count) ?? -1
                return await agent.metrics.throttled == 2 && graph.attemptCount == 3 && remaining == 2
            })
            #expect(graph.attempts(of: try await spool.list().first!.id) == 1)
            clock.advance(by: 29)
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(graph.attemptCount == 3)
            clock.advance(by: 1)
            #expect(await eventually { await agent.metrics.throttled == 3 && graph.attemptCount == 5 })
            clock.advance(by: 30)
            #expect(await eventually { (try? await spool.list().isEmpty) == true })
            #expect(graph.attemptCount == 6)
            #expect(await agent.metrics.throttled == 3)
            await agent.stop()
        }
    }

    @Test("queue tooling in another process: delete and retry are followed via the kick file")
    func followsTooling() async throws {
        try await withSpool { spool, directory in
            let graph = FakeGraph { _, previous in previous == 0 ? .transient(reason: "down") : .delivered(requestId: nil) }
            let clock = ManualClock()
            let agent = DeliveryAgent(spool: spool, configuration: configuration(), clock: clock, logger: quietLogger) { await graph.deliver($0) }
            try await agent.start()
            let keep = try await spoolMessage(spool, sampleMessage(seed: 1, size: 200), envelope: envelope(receivedAt: clock.now()))
            let drop = try await spoolMessage(spool, sampleMessage(seed: 2, size: 200), envelope: envelope(receivedAt: clock.now()))
            #expect(await eventually { (try? await spool.list().allSatisfy { $0.attempts == 1 && $0.state == .queued }) == true })
            #expect(await agent.metrics.queued == 2)

            let tool = try Spool(directory: directory.path, mode: .tool, logger: quietLogger)
            try await tool.delete(drop.id)
            try await tool.retry(keep.id, now: clock.now())
            await tool.close()
            clock.advance(by: 1)  // the agent checks the kick file every second
            #expect(await eventually { graph.attempts(of: keep.id) == 2 })
            #expect(await eventually { await agent.metrics.queued == 0 })
            #expect(graph.attempts(of: drop.id) == 1)
            #expect(await eventually { directory.files("queue").isEmpty })
            await agent.stop()
        }
    }

    @Test("graceful stop: deliveries under way may finish within the grace period, the rest go back to queued")
    func gracefulStop() async throws {
        try await withSpool { spool, directory in
            let graph = FakeGraph()
            graph.hold = true
            let agent = DeliveryAgent(spool: spool, configuration: configuration(), clock: ManualClock(), logger: quietLogger) { await graph.deliver($0) }
            try await agent.start()
            let first = try await spoolMessage(spool, sampleMessage(seed: 1, size: 200))
            let second = try await spoolMessage(spool, sampleMessage(seed: 2, size: 200))
            #expect(await eventually { graph.heldCount == 2 })
            #expect(try await spool.list().allSatisfy { $0.state == .delivering })

            // A stop with a long grace period waits for them: release them meanwhile.
            async let stopped: Void = agent.stop(gracePeriod: .seconds(10))
            try await Task.sleep(nanoseconds: 50_000_000)
            graph.releaseHeld()
            await stopped
            #expect(directory.files("queue").isEmpty)
            #expect(graph.attempts(of: first.id) == 1 && graph.attempts(of: second.id) == 1)
        }
    }

    @Test("graceful stop: what does not finish in time is released to queued, and nothing new starts")
    func stopReleases() async throws {
        try await withSpool { spool, _ in
            let graph = FakeGraph()
            graph.hold = true
            let agent = DeliveryAgent(spool: spool, configuration: configuration(), clock: ManualClock(), logger: quietLogger) { await graph.deliver($0) }
            try await agent.start()
            let record = try await spoolMessage(spool, sampleMessage(seed: 1, size: 200))
            #expect(await eventually { graph.heldCount == 1 })
            await agent.stop(gracePeriod: .milliseconds(100))
            let after = try #require(try await spool.list().first)
            #expect(after.id == record.id)
            #expect(after.state == .queued)
            // New commits are not picked up after stop.
            try await spoolMessage(spool, sampleMessage(seed: 2, size: 200))
            graph.releaseHeld()
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(graph.attemptCount == 1)
            #expect(try await spool.list().count == 2)
        }
    }
}
