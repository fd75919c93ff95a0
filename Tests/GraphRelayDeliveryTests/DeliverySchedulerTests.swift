import Foundation
import Testing

@testable import GraphRelayDelivery
import GraphRelaySpool
import GraphRelaySpoolTestSupport

private let t0 = Date(timeIntervalSince1970: 1_750_000_000)

private func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

private func delivers(_ actions: [DeliveryScheduler.Action]) -> [QueueID] {
    actions.compactMap { if case .deliver(let id) = $0 { id } else { nil } }
}

private func wake(_ actions: [DeliveryScheduler.Action]) -> Date? {
    actions.compactMap { if case .wakeUp(let date) = $0 { date } else { nil } }.last
}

private func unlimited() -> SchedulerConfiguration {
    var configuration = SchedulerConfiguration()
    configuration.messagesPerMinute = 0
    return configuration
}

/// A scheduler plus the ids it was given, with helpers to enqueue.
private struct Harness {
    var scheduler: DeliveryScheduler

    init(_ configuration: SchedulerConfiguration = unlimited()) {
        scheduler = DeliveryScheduler(configuration: configuration)
    }

    @discardableResult
    mutating func add(
        _ count: Int,
        application: String = "contoso",
        mailbox: String = "a@contoso.com",
        notBefore: Date = t0,
        size: Int = 10_000,
        now: Date = .distantPast  // so that nothing starts before the test ticks
    ) -> [QueueID] {
        (0..<count).map { _ in
            let id = QueueID.make()
            _ = scheduler.enqueue(
                DeliveryScheduler.Message(id: id, application: application, mailbox: mailbox, notBefore: notBefore, lifetimeStartedAt: t0,
                                          size: size),
                now: now
            )
            return id
        }
    }
}

@Suite("Delivery scheduler")
struct DeliverySchedulerTests {
    @Test("large messages share a mailbox's upload budget (150 MiB in any 5 minutes): a burst of scans waits instead of meeting 429")
    func uploadBudget() {
        var harness = Harness()
        let mib = 1024 * 1024
        let scans = harness.add(3, size: 60 * mib)
        let small = harness.add(1, mailbox: "a@contoso.com", size: 2 * mib)
        let first = harness.scheduler.tick(now: t0)
        // Two scans fit 150 MiB; the third waits — without holding up a small message (one
        // request, not counted) queued behind it.
        #expect(delivers(first) == Array(scans.prefix(2)) + small)
        // No 5-minute window may see more than 150 MiB: the third starts when the first leaves it.
        #expect(wake(first) == at(300))
        for id in scans.prefix(2) + small { _ = harness.scheduler.finished(id, outcome: .delivered(requestId: nil), now: at(1)) }
        #expect(delivers(harness.scheduler.tick(now: at(299))).isEmpty)
        #expect(delivers(harness.scheduler.tick(now: at(300))) == [scans[2]])

        // A message of the whole budget starts when the window is empty; 0 turns the budget off.
        var full = Harness()
        let huge = full.add(2, mailbox: "b@contoso.com", size: 150 * mib)
        #expect(delivers(full.scheduler.tick(now: t0)) == [huge[0]])
        #expect(delivers(full.scheduler.tick(now: at(299))).isEmpty)
        #expect(delivers(full.scheduler.tick(now: at(300))) == [huge[1]])
        var configuration = unlimited()
        configuration.uploadBytesPerWindow = 0
        var off = Harness(configuration)
        let all = off.add(3, size: 100 * mib)
        #expect(delivers(off.scheduler.tick(now: t0)) == all)
    }

    @Test("the upload window: what started in the last window counts, older starts do not")
    func uploadWindow() {
        var window = UploadWindow(limit: 100, window: 10)
        #expect(window.canStart(150, at: t0))  // nothing started: even more than the limit
        window.start(60, at: t0)
        window.start(30, at: at(4))
        #expect(window.used(at: at(5)) == 90)
        #expect(!window.canStart(20, at: at(5)) && window.canStart(10, at: at(5)))
        #expect(window.nextStart(for: 20, after: at(5)) == at(10))   // when the 60 leaves
        #expect(window.nextStart(for: 90, after: at(5)) == at(14))   // when both have left
        #expect(window.canStart(70, at: at(10)) && window.isEmpty(at: at(14)))
    }

    @Test("at most 4 deliveries per mailbox at once; a finish lets the next one start")
    func concurrencyCap() {
        var harness = Harness()
        let ids = harness.add(10)
        let started = delivers(harness.scheduler.tick(now: t0))
        #expect(started == Array(ids.prefix(4)))
        #expect(harness.scheduler.inFlight(application: "contoso", mailbox: "A@Contoso.com") == 4)
        #expect(delivers(harness.scheduler.tick(now: at(1))).isEmpty)
        let next = harness.scheduler.finished(ids[0], outcome: .delivered(requestId: "r"), now: at(2))
        #expect(next.first == .complete(ids[0], requestId: "r"))
        #expect(delivers(next) == [ids[4]])
    }

    @Test("the configured lower concurrency holds, and the mailbox key ignores case")
    func lowerConcurrency() {
        var configuration = unlimited()
        configuration.concurrencyPerMailbox = 2
        var harness = Harness(configuration)
        harness.add(2, mailbox: "a@contoso.com")
        harness.add(2, mailbox: "A@CONTOSO.COM")
        #expect(delivers(harness.scheduler.tick(now: t0)).count == 2)
    }

    @Test("30 messages per minute: one every 2 s, never more than 30 in any minute")
    func rateLimit() {
        var configuration = SchedulerConfiguration()
        configuration.concurrencyPerMailbox = 1000
        var harness = Harness(configuration)
        harness.add(100)
        var starts: [Date] = []
        var now = t0
        var actions = harness.scheduler.tick(now: now)
        while now < at(180) {
            for id in delivers(actions) {
                starts.append(now)
                _ = harness.scheduler.finished(id, outcome: .delivered(requestId: nil), now: now)
            }
            guard let next = wake(actions) else { break }
            #expect(next > now)
            now = next
            actions = harness.scheduler.tick(now: now)
        }
        #expect(starts.first == t0)
        #expect(abs(starts[1].timeIntervalSince(starts[0]) - 2) < 0.01)
        for (index, start) in starts.enumerated() {
            let inWindow = starts[index...].prefix { $0 < start.addingTimeInterval(60) }.count
            #expect(inWindow <= 30)
        }
        #expect(starts.count >= 89 && starts.count <= 91)
    }

    @Test("a burst capacity lets that many start at once")
    func burst() {
        var configuration = SchedulerConfiguration()
        configuration.burst = 3
        configuration.concurrencyPerMailbox = 10
        var harness = Harness(configuration)
        harness.add(10)
        let actions = harness.scheduler.tick(now: t0)
        #expect(delivers(actions).count == 3)
        #expect(wake(actions) == at(2))
    }

    @Test("round-robin: a busy mailbox does not starve the others under the global cap")
    func fairness() {
        var configuration = unlimited()
        configuration.maxConcurrentDeliveries = 2
        var harness = Harness(configuration)
        let busy = harness.add(50, mailbox: "busy@contoso.com")
        let quiet1 = harness.add(1, mailbox: "one@contoso.com")
        let quiet2 = harness.add(1, application: "fabrikam", mailbox: "two@fabrikam.com")
        var order = delivers(harness.scheduler.tick(now: t0))
        var now = t0
        while order.count < 8 {
            now = now.addingTimeInterval(1)
            let inFlight = harness.scheduler.inFlightIDs
            let first = try! #require(inFlight.first)
            order += delivers(harness.scheduler.finished(first, outcome: .delivered(requestId: nil), now: now))
        }
        #expect(order.prefix(3).contains(quiet1[0]))
        #expect(order.prefix(3).contains(quiet2[0]))
        #expect(order.filter { busy.contains($0) } == Array(busy.prefix(6)))
    }

    @Test("within a mailbox: the message due first goes first, then the oldest id")
    func orderWithinMailbox() {
        var configuration = unlimited()
        configuration.concurrencyPerMailbox = 1
        var harness = Harness(configuration)
        let late = harness.add(1, notBefore: at(5))
        let first = harness.add(1)
        let second = harness.add(1)
        let actions = harness.scheduler.tick(now: t0)
        #expect(delivers(actions) == first)
        #expect(delivers(harness.scheduler.finished(first[0], outcome: .delivered(requestId: nil), now: at(1))) == second)
        let afterSecond = harness.scheduler.finished(second[0], outcome: .delivered(requestId: nil), now: at(2))
        #expect(delivers(afterSecond).isEmpty)
        #expect(wake(afterSecond) == at(5))
        #expect(delivers(harness.scheduler.tick(now: at(4.999))).isEmpty)
        #expect(delivers(harness.scheduler.tick(now: at(5))) == late)
    }

    @Test("a 429 pauses that mailbox until Retry-After; other mailboxes go on")
    func throttlePausesMailbox() {
        var harness = Harness()
        let a = harness.add(6, mailbox: "a@contoso.com")
        let b = harness.add(6, mailbox: "b@contoso.com")
        _ = harness.scheduler.tick(now: t0)
        let actions = harness.scheduler.finished(a[0], outcome: .throttled(retryAfter: .seconds(30), requestId: "r429"), now: at(1))
        #expect(actions.contains(.pauseMailbox(application: "contoso", mailbox: "a@contoso.com", until: at(31))))
        #expect(actions.contains(.reschedule(a[0], notBefore: at(31), reason: .throttled(requestId: "r429"))))
        #expect(delivers(actions).isEmpty)
        #expect(harness.scheduler.mailboxPausedUntil(application: "contoso", mailbox: "a@contoso.com", now: at(1)) == at(31))
        // The other in-flight messages of a finish; a stays paused, b continues.
        #expect(delivers(harness.scheduler.finished(a[1], outcome: .delivered(requestId: nil), now: at(2))).isEmpty)
        #expect(delivers(harness.scheduler.finished(b[0], outcome: .delivered(requestId: nil), now: at(3))) == [b[4]])
        // A second 429 with a shorter Retry-After does not shorten the pause.
        let second = harness.scheduler.finished(a[2], outcome: .throttled(retryAfter: .seconds(5), requestId: nil), now: at(4))
        #expect(!second.contains { if case .pauseMailbox = $0 { true } else { false } })
        #expect(second.contains(.reschedule(a[2], notBefore: at(31), reason: .throttled(requestId: nil))))
        #expect(wake(second) == at(31))
        #expect(delivers(harness.scheduler.tick(now: at(30.9))).isEmpty)
        // At the end of the pause a resumes, the throttled message first (it kept its place).
        let resumed = delivers(harness.scheduler.tick(now: at(31)))
        #expect(resumed.first == a[0])
        #expect(resumed.count == 3)  // a[3] is still in flight: 1 + 3 = 4
    }

    @Test("a 429 without Retry-After pauses for the configured default")
    func throttleDefault() {
        var harness = Harness()
        let a = harness.add(1)
        _ = harness.scheduler.tick(now: t0)
        let actions = harness.scheduler.finished(a[0], outcome: .throttled(retryAfter: nil), now: t0)
        #expect(actions.contains(.pauseMailbox(application: "contoso", mailbox: "a@contoso.com", until: at(60))))
        #expect(wake(actions) == at(60))
    }

    @Test("a token failure pauses the whole application, escalating, and nothing is dropped")
    func tokenFailurePausesApplication() {
        var harness = Harness()
        let a = harness.add(2, mailbox: "a@contoso.com")
        let b = harness.add(2, mailbox: "b@contoso.com")
        let other = harness.add(2, application: "fabrikam", mailbox: "x@fabrikam.com")
        _ = harness.scheduler.tick(now: t0)
        var actions = harness.scheduler.finished(a[0], outcome: .tokenFailure(reason: "AADSTS7000215 invalid secret"), now: t0)
        #expect(actions.contains(.pauseApplication("contoso", until: at(30))))
        #expect(actions.contains(.reschedule(a[0], notBefore: at(30), reason: .tokenFailure(reason: "AADSTS7000215 invalid secret"))))
        // The other in-flight ones of the same application fail too: no escalation during a pause.
        for id in [a[1], b[0], b[1]] {
            actions = harness.scheduler.finished(id, outcome: .tokenFailure(reason: "down"), now: at(1))
            #expect(!actions.contains { if case .pauseApplication = $0 { true } else { false } })
        }
        // The other application is unaffected.
        #expect(delivers(harness.scheduler.finished(other[0], outcome: .delivered(requestId: nil), now: at(2))).isEmpty)
        #expect(harness.scheduler.isInFlight(other[1]))
        #expect(harness.scheduler.applicationPausedUntil("contoso", now: at(2)) == at(30))
        #expect(delivers(harness.scheduler.tick(now: at(29))).isEmpty)
        // After the pause all four are tried again; failing again doubles the pause…
        let retried = delivers(harness.scheduler.tick(now: at(30)))
        #expect(Set(retried) == Set(a + b))
        actions = harness.scheduler.finished(a[0], outcome: .tokenFailure(reason: "down"), now: at(31))
        #expect(actions.contains(.pauseApplication("contoso", until: at(91))))
        for id in [a[1], b[0], b[1]] { _ = harness.scheduler.finished(id, outcome: .tokenFailure(reason: "down"), now: at(31)) }
        var now = at(91)
        var pauses: [Double] = [60]
        for _ in 0..<5 {
            let again = delivers(harness.scheduler.tick(now: now))
            #expect(again.count == 4)
            let result = harness.scheduler.finished(again[0], outcome: .tokenFailure(reason: "down"), now: now)
            for case .pauseApplication(_, let until) in result { pauses.append(until.timeIntervalSince(now)) }
            for id in again.dropFirst() { _ = harness.scheduler.finished(id, outcome: .tokenFailure(reason: "down"), now: now) }
            now = harness.scheduler.applicationPausedUntil("contoso", now: now)!
        }
        #expect(pauses == [60, 120, 240, 300, 300, 300])
        // …until a delivery succeeds, which resets the escalation.
        let recovered = delivers(harness.scheduler.tick(now: now))
        _ = harness.scheduler.finished(recovered[0], outcome: .delivered(requestId: nil), now: now)
        for id in recovered.dropFirst() { _ = harness.scheduler.finished(id, outcome: .tokenFailure(reason: "down"), now: now) }
        #expect(harness.scheduler.applicationPausedUntil("contoso", now: now) == now.addingTimeInterval(30))
        #expect(harness.scheduler.count == 4)  // 3 of contoso + 1 of fabrikam: nothing dropped
    }

    @Test("transient failures back off 5m, 10m, 20m, 40m, 1h, 1h…")
    func backoffSequence() {
        var harness = Harness()
        let id = harness.add(1)[0]
        var now = t0
        var delays: [Double] = []
        for attempt in 1...7 {
            let started = delivers(harness.scheduler.tick(now: now))
            #expect(started == [id], "attempt \(attempt)")
            let actions = harness.scheduler.finished(id, outcome: .transient(reason: "503"), now: now)
            guard case .reschedule(_, let notBefore, let reason)? = actions.first else {
                Issue.record("expected a reschedule, got \(actions)")
                return
            }
            #expect(reason == .transient(reason: "503", ambiguous: false, requestId: nil))
            delays.append(notBefore.timeIntervalSince(now))
            #expect(wake(actions) == notBefore)
            #expect(delivers(harness.scheduler.tick(now: notBefore.addingTimeInterval(-1))).isEmpty)
            now = notBefore
        }
        #expect(delays == [300, 600, 1200, 2400, 3600, 3600, 3600])
        #expect(harness.scheduler.message(id)?.transientFailures == 7)
    }

    @Test("Retry-After of a transient failure is honoured; ambiguous outcomes are retried and marked")
    func transientRetryAfter() {
        var harness = Harness()
        let id = harness.add(1)[0]
        _ = harness.scheduler.tick(now: t0)
        let actions = harness.scheduler.finished(
            id,
            outcome: .transient(reason: "connection lost after the body was sent", retryAfter: .milliseconds(17500), ambiguous: true, requestId: "r1"),
            now: t0
        )
        #expect(actions.first == .reschedule(id, notBefore: at(17.5), reason: .transient(reason: "connection lost after the body was sent", ambiguous: true, requestId: "r1")))
        #expect(delivers(harness.scheduler.tick(now: at(17.5))) == [id])
    }

    @Test("after the lifetime a failure expires the message with 4.4.7")
    func expiry() {
        var configuration = unlimited()
        configuration.retry = RetryPolicy(initial: .seconds(1), maximum: .seconds(3600), lifetime: .seconds(5 * 86400))
        var harness = Harness(configuration)
        let id = harness.add(1)[0]
        _ = harness.scheduler.tick(now: t0)
        let early = harness.scheduler.finished(id, outcome: .transient(reason: "503"), now: at(5 * 86400 - 1))
        #expect(early.contains { if case .reschedule = $0 { true } else { false } })
        _ = harness.scheduler.tick(now: at(5 * 86400 + 1))
        let actions = harness.scheduler.finished(id, outcome: .transient(reason: "504 Gateway Timeout", requestId: "r7"), now: at(5 * 86400 + 1))
        #expect(actions.first == .fail(id, DeliveryScheduler.Failure(
            kind: .expired,
            reason: "message expired: not delivered within 5d; last error: 504 Gateway Timeout",
            status: "4.4.7",
            requestId: "r7"
        )))
        #expect(!harness.scheduler.contains(id))
    }

    @Test("throttling and token failures past the lifetime expire the message too")
    func expiryWhilePaused() {
        var configuration = unlimited()
        configuration.retry.lifetime = .seconds(100)
        var harness = Harness(configuration)
        let ids = harness.add(2)
        _ = harness.scheduler.tick(now: t0)
        let throttled = harness.scheduler.finished(ids[0], outcome: .throttled(retryAfter: .seconds(10)), now: at(100))
        #expect(throttled.contains { if case .fail(ids[0], let failure) = $0 { failure.kind == .expired } else { false } })
        let token = harness.scheduler.finished(ids[1], outcome: .tokenFailure(reason: "down"), now: at(100))
        #expect(token.contains { if case .fail(ids[1], let failure) = $0 { failure.status == "4.4.7" } else { false } })
        #expect(harness.scheduler.count == 0)
    }

    @Test("permanent failure fails at once with its status; delivered completes")
    func permanentAndDelivered() {
        var harness = Harness()
        let ids = harness.add(2)
        _ = harness.scheduler.tick(now: t0)
        let failed = harness.scheduler.finished(ids[0], outcome: .permanent(reason: "ErrorInvalidRecipients", status: "5.1.3", requestId: "r"), now: t0)
        #expect(failed.first == .fail(ids[0], DeliveryScheduler.Failure(kind: .permanent, reason: "ErrorInvalidRecipients", status: "5.1.3", requestId: "r")))
        #expect(harness.scheduler.finished(ids[1], outcome: .delivered(requestId: "ok"), now: t0).first == .complete(ids[1], requestId: "ok"))
        #expect(harness.scheduler.count == 0)
        #expect(harness.scheduler.inFlightCount == 0)
    }

    @Test("removed messages are not delivered; a removal in flight drops the outcome")
    func removal() {
        var configuration = unlimited()
        configuration.concurrencyPerMailbox = 1
        var harness = Harness(configuration)
        let ids = harness.add(3)
        #expect(delivers(harness.scheduler.tick(now: t0)) == [ids[0]])
        _ = harness.scheduler.remove(ids[1], now: t0)
        _ = harness.scheduler.remove(ids[0], now: t0)
        #expect(harness.scheduler.isInFlight(ids[0]))
        let actions = harness.scheduler.finished(ids[0], outcome: .delivered(requestId: nil), now: at(1))
        #expect(actions.filter { if case .complete = $0 { true } else { false } }.isEmpty)
        #expect(delivers(actions) == [ids[2]])
        #expect(!harness.scheduler.contains(ids[0]) && !harness.scheduler.contains(ids[1]))
    }

    @Test("retry now makes a waiting message due, but not through a pause")
    func retryNow() {
        var harness = Harness()
        let ids = harness.add(2, notBefore: at(3600))
        #expect(wake(harness.scheduler.tick(now: t0)) == at(3600))
        #expect(delivers(harness.scheduler.retryNow(ids[1], now: at(1))) == [ids[1]])
        _ = harness.scheduler.finished(ids[1], outcome: .throttled(retryAfter: .seconds(100)), now: at(2))
        #expect(delivers(harness.scheduler.retryNow(nil, now: at(3))).isEmpty)
        #expect(Set(delivers(harness.scheduler.tick(now: at(102)))) == Set(ids))
    }

    @Test("released messages are due again without counting a failure; an in-flight one is not re-enqueued")
    func released() {
        var harness = Harness()
        let id = harness.add(1)[0]
        _ = harness.scheduler.tick(now: t0)
        #expect(delivers(harness.scheduler.enqueue(
            DeliveryScheduler.Message(id: id, application: "contoso", mailbox: "a@contoso.com", notBefore: t0, lifetimeStartedAt: t0),
            now: t0
        )).isEmpty)
        #expect(delivers(harness.scheduler.released(id, now: at(1))) == [id])
        #expect(harness.scheduler.message(id)?.transientFailures == 0)
        let later = harness.scheduler.released(id, notBefore: at(31), now: at(2))
        #expect(delivers(later).isEmpty)
        #expect(wake(later) == at(31))
    }

    @Test("after stop nothing starts, but outcomes of deliveries under way are still recorded")
    func stop() {
        var harness = Harness()
        let ids = harness.add(8)
        _ = harness.scheduler.tick(now: t0)
        #expect(harness.scheduler.stop().isEmpty)
        #expect(harness.scheduler.finished(ids[0], outcome: .delivered(requestId: nil), now: t0) == [.complete(ids[0], requestId: nil)])
        #expect(harness.scheduler.tick(now: at(10)).isEmpty)
        _ = harness.add(1)
        #expect(harness.scheduler.tick(now: at(10)).isEmpty)
    }

    @Test("a message that is not due asks for a wake-up at its time; an idle scheduler asks for none")
    func wakeUps() {
        var harness = Harness()
        #expect(harness.scheduler.tick(now: t0).isEmpty)
        let ids = harness.add(1, notBefore: at(42))
        #expect(harness.scheduler.tick(now: t0) == [.wakeUp(at: at(42))])
        #expect(harness.scheduler.tick(now: at(42)) == [.deliver(ids[0])])
    }

    @Test("many mailboxes: idle ones are forgotten, busy ones kept")
    func manyMailboxes() {
        var harness = Harness()
        for index in 0..<100 { harness.add(1, mailbox: "m\(index)@contoso.com") }
        let started = delivers(harness.scheduler.tick(now: t0))
        #expect(started.count == 64)
        for id in started { _ = harness.scheduler.finished(id, outcome: .delivered(requestId: nil), now: at(1)) }
        var remaining = harness.scheduler.inFlightIDs
        #expect(remaining.count == 36)
        for id in remaining { _ = harness.scheduler.finished(id, outcome: .delivered(requestId: nil), now: at(2)) }
        remaining = harness.scheduler.inFlightIDs
        #expect(remaining.isEmpty)
        #expect(harness.scheduler.count == 0)
    }
}

@Suite("Retry policy and token bucket")
struct RetryPolicyTests {
    @Test("backoff doubles from initial up to maximum")
    func backoff() {
        let policy = RetryPolicy()
        #expect((1...7).map { policy.backoff(afterFailures: $0) } == [.seconds(300), .seconds(600), .seconds(1200), .seconds(2400), .seconds(3600), .seconds(3600), .seconds(3600)])
        let fast = RetryPolicy(initial: .milliseconds(100), maximum: .seconds(1), lifetime: .seconds(10))
        #expect((1...6).map { fast.backoff(afterFailures: $0) } == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        #expect(policy.backoff(afterFailures: 10_000) == .seconds(3600))
        let tripling = RetryPolicy(initial: .seconds(60), maximum: .seconds(3600), multiplier: 3)
        #expect((1...5).map { tripling.backoff(afterFailures: $0) } == [.seconds(60), .seconds(180), .seconds(540), .seconds(1620), .seconds(3600)])
    }

    @Test("the bucket refills at its rate up to its capacity; a clock step back does not mint tokens")
    func bucket() {
        var bucket = TokenBucket(capacity: 2, perMinute: 60, now: t0)
        #expect(bucket.canTake(at: t0))
        bucket.take(at: t0)
        bucket.take(at: t0)
        #expect(!bucket.canTake(at: t0))
        #expect(bucket.nextTokenTime(after: t0) == at(1))
        #expect(!bucket.canTake(at: at(0.5)))
        #expect(bucket.canTake(at: at(1)))
        #expect(abs(bucket.available(at: at(100)) - 2) < 1e-9)
        #expect(!bucket.canTake(at: at(-50)))
        #expect(TokenBucket(capacity: 1, perMinute: 0, now: t0).isUnlimited)
    }
}
