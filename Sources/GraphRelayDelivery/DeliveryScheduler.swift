import Foundation
import GraphRelaySpool
import HeapModule

/// Decides which queued message is sent next. Pure logic: no I/O, no clock of its own (every
/// event carries `now`), so it is tested exhaustively with made-up times.
///
/// Policy:
/// - per application and mailbox at most ``SchedulerConfiguration/concurrencyPerMailbox``
///   deliveries at once and a token-bucket rate of ``SchedulerConfiguration/messagesPerMinute``;
/// - at most ``SchedulerConfiguration/maxConcurrentDeliveries`` overall, handed out round-robin
///   over the mailboxes (one message per mailbox per round), so a busy mailbox never starves the
///   others; within a mailbox, the message due first (then the oldest id) goes first;
/// - a 429 pauses the mailbox until `Retry-After`; a token failure pauses the whole application;
///   neither counts towards the backoff, neither drops a message;
/// - transient failures back off exponentially (or by `Retry-After`) until the lifetime is over,
///   then the message expires (`4.4.7`); permanent failures fail at once (the outcome's status).
///
/// Each event method returns the actions to perform: `deliver` (already counted in flight; answer
/// with ``finished(_:outcome:now:)`` or ``released(_:now:)``), `reschedule`, `complete`, `fail`,
/// informational pauses, and at most one `wakeUp(at:)` — call ``tick(now:)`` then. No `wakeUp`
/// means nothing is due until another event.
///
/// (Over 400 lines on purpose: the event methods and the dispatch they share one private state —
/// items, mailboxes, the round-robin ring — that no other file may touch; its public types are
/// in `DeliveryScheduler+Types.swift`.)
public struct DeliveryScheduler: Sendable {
    private enum State {
        case running
        case stopped
    }

    private struct MailboxKey: Hashable {
        var application: String
        var mailbox: String

        init(_ application: String, _ mailbox: String) {
            self.application = application
            self.mailbox = mailbox.lowercased()
        }
    }

    private struct Entry: Comparable {
        var notBefore: Date
        var id: QueueID
        var generation: Int

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            (lhs.notBefore, lhs.id) < (rhs.notBefore, rhs.id)
        }
    }

    private struct Item {
        var message: Message
        var key: MailboxKey
        var generation: Int
        var inFlight = false
        var deleted = false
    }

    private struct Mailbox {
        var inFlight = 0
        var bucket: TokenBucket
        /// Bytes of large messages started (Graph's upload limit per mailbox).
        var uploads: UploadWindow
        var pausedUntil: Date?
        /// Messages that cost no upload budget.
        var heap = Heap<Entry>()
        /// Large messages: they wait for upload budget without holding up the others.
        var uploadHeap = Heap<Entry>()
    }

    private struct Application {
        var pausedUntil: Date?
        var tokenFailures = 0
    }

    public let configuration: SchedulerConfiguration
    private var state = State.running
    private var items: [QueueID: Item] = [:]
    private var mailboxes: [MailboxKey: Mailbox] = [:]
    private var ring: [MailboxKey] = []
    private var cursor = 0
    private var applications: [String: Application] = [:]
    private var nextGeneration = 0
    public private(set) var inFlightCount = 0

    public init(configuration: SchedulerConfiguration = SchedulerConfiguration()) {
        self.configuration = configuration
    }

    // MARK: Queries (for the driver, tooling and tests)

    /// Messages known (queued or in flight).
    public var count: Int { items.count }

    /// The queue by state, its oldest message and the pauses in force at `now`.
    public func snapshot(now: Date) -> Snapshot {
        var snapshot = Snapshot()
        for item in items.values where !item.deleted {
            let message = item.message
            if item.inFlight {
                snapshot.inFlight += 1
            } else if message.transientFailures > 0 || message.notBefore > now {
                snapshot.deferred += 1
            } else {
                snapshot.queued += 1
            }
            if snapshot.oldest.map({ message.lifetimeStartedAt < $0 }) ?? true {
                snapshot.oldest = message.lifetimeStartedAt
            }
        }
        for (key, mailbox) in mailboxes {
            if let until = mailbox.pausedUntil, until > now {
                snapshot.pausedMailboxes.append(.init(application: key.application, mailbox: key.mailbox, until: until))
            }
        }
        for (name, application) in applications {
            if let until = application.pausedUntil, until > now {
                snapshot.pausedApplications.append(.init(application: name, mailbox: nil, until: until))
            }
        }
        snapshot.pausedMailboxes.sort { ($0.application, $0.mailbox ?? "") < ($1.application, $1.mailbox ?? "") }
        snapshot.pausedApplications.sort { $0.application < $1.application }
        return snapshot
    }

    public func contains(_ id: QueueID) -> Bool { items[id] != nil }

    public func isInFlight(_ id: QueueID) -> Bool { items[id]?.inFlight ?? false }

    /// Deliveries under way for a mailbox.
    public func inFlight(application: String, mailbox: String) -> Int {
        mailboxes[MailboxKey(application, mailbox)]?.inFlight ?? 0
    }

    /// Until when a mailbox is paused by a 429 (nil if it is not, at `now`).
    public func mailboxPausedUntil(application: String, mailbox: String, now: Date) -> Date? {
        guard let until = mailboxes[MailboxKey(application, mailbox)]?.pausedUntil, until > now else { return nil }
        return until
    }

    /// Until when an application is paused by token failures (nil if it is not, at `now`).
    public func applicationPausedUntil(_ application: String, now: Date) -> Date? {
        guard let until = applications[application]?.pausedUntil, until > now else { return nil }
        return until
    }

    /// The message as currently scheduled.
    public func message(_ id: QueueID) -> Message? { items[id]?.message }

    /// Every id known (queued or in flight).
    public var ids: [QueueID] { Array(items.keys) }

    /// The ids in flight.
    public var inFlightIDs: [QueueID] { items.values.filter(\.inFlight).map(\.message.id).sorted() }

    // MARK: Events

    /// A message is in the queue (new, found at start, or changed by queue tooling). A message
    /// in flight is left alone.
    public mutating func enqueue(_ message: Message, now: Date) -> [Action] {
        if let existing = items[message.id], existing.inFlight { return dispatch(now: now) }
        insert(message)
        return dispatch(now: now)
    }

    /// A message left the queue behind the scheduler's back (deleted by queue tooling). If it is
    /// in flight, its outcome will be ignored.
    public mutating func remove(_ id: QueueID, now: Date) -> [Action] {
        guard var item = items[id] else { return dispatch(now: now) }
        if item.inFlight {
            item.deleted = true
            items[id] = item
        } else {
            items[id] = nil
        }
        return dispatch(now: now)
    }

    /// Makes one message (or all with `nil`) due now. Pauses (429, token) still apply.
    public mutating func retryNow(_ id: QueueID?, now: Date) -> [Action] {
        let ids = id.map { [$0] } ?? Array(items.keys)
        for id in ids {
            guard var item = items[id], !item.inFlight else { continue }
            item.message.notBefore = min(item.message.notBefore, now)
            items[id] = item
            insert(item.message)
        }
        return dispatch(now: now)
    }

    /// The clock reached a `wakeUp` time (or any time: ticks are idempotent).
    public mutating func tick(now: Date) -> [Action] {
        dispatch(now: now)
    }

    /// A delivery started by a `deliver` action did not run to an outcome (spool error,
    /// shutdown): the message is due again at `notBefore` (default `now`), nothing is counted.
    public mutating func released(_ id: QueueID, notBefore: Date? = nil, now: Date) -> [Action] {
        guard let item = items[id], item.inFlight else { return dispatch(now: now) }
        endFlight(item)
        if item.deleted {
            items[id] = nil
        } else {
            var message = item.message
            message.notBefore = notBefore ?? min(message.notBefore, now)
            insert(message)
        }
        return dispatch(now: now)
    }

    /// A delivery ended with `outcome`.
    public mutating func finished(_ id: QueueID, outcome: DeliveryOutcome, now: Date) -> [Action] {
        guard let item = items[id], item.inFlight else { return dispatch(now: now) }
        endFlight(item)
        if item.deleted {
            items[id] = nil
            return dispatch(now: now)
        }
        var actions: [Action] = []
        var message = item.message
        let application = message.application
        switch outcome {
        case .delivered(let requestId, _):
            items[id] = nil
            applications[application]?.tokenFailures = 0
            actions.append(.complete(id, requestId: requestId))

        case .permanent(let reason, let status, let requestId, _):
            items[id] = nil
            applications[application]?.tokenFailures = 0
            actions.append(.fail(id, Failure(kind: .permanent, reason: reason, status: status, requestId: requestId)))

        case .transient(let reason, let retryAfter, let ambiguous, let requestId, _):
            applications[application]?.tokenFailures = 0
            if let failure = expiry(message, now: now, lastError: reason, requestId: requestId) {
                items[id] = nil
                actions.append(.fail(id, failure))
                break
            }
            message.transientFailures += 1
            let delay = retryAfter.map { max($0, .zero) } ?? configuration.retry.backoff(afterFailures: message.transientFailures)
            message.notBefore = now.addingTimeInterval(delay.seconds)
            insert(message)
            actions.append(.reschedule(id, notBefore: message.notBefore, reason: .transient(reason: reason, ambiguous: ambiguous, requestId: requestId)))

        case .throttled(let retryAfter, let requestId, _):
            let pause = retryAfter.map { max($0, .zero) } ?? configuration.throttlePause
            let until = now.addingTimeInterval(pause.seconds)
            if var mailbox = mailboxes[item.key] {
                if mailbox.pausedUntil.map({ until > $0 }) ?? true {
                    mailbox.pausedUntil = until
                    actions.append(.pauseMailbox(application: application, mailbox: message.mailbox, until: until))
                }
                mailboxes[item.key] = mailbox
            }
            if let failure = expiry(message, now: now, lastError: "throttled by Graph (429)", requestId: requestId) {
                items[id] = nil
                actions.append(.fail(id, failure))
                break
            }
            // The message keeps its place in line; the pause holds the whole mailbox.
            insert(message)
            let resume = max(mailboxes[item.key]?.pausedUntil ?? until, message.notBefore)
            actions.append(.reschedule(id, notBefore: resume, reason: .throttled(requestId: requestId)))

        case .tokenFailure(let reason):
            var app = applications[application] ?? Application()
            if app.pausedUntil.map({ $0 <= now }) ?? true {
                app.tokenFailures += 1
                let first = configuration.tokenFailurePause.seconds
                let maximum = max(configuration.tokenFailureMaximumPause.seconds, first)
                let pause = min(first * pow(2, Double(min(app.tokenFailures - 1, 30))), maximum)
                let until = now.addingTimeInterval(pause)
                app.pausedUntil = until
                actions.append(.pauseApplication(application, until: until))
            }
            applications[application] = app
            if let failure = expiry(message, now: now, lastError: reason, requestId: nil) {
                items[id] = nil
                actions.append(.fail(id, failure))
                break
            }
            insert(message)
            let resume = max(app.pausedUntil ?? now, message.notBefore)
            actions.append(.reschedule(id, notBefore: resume, reason: .tokenFailure(reason: reason)))
        }
        return actions + dispatch(now: now)
    }

    /// Stop starting deliveries (graceful shutdown); in-flight ones may still finish.
    public mutating func stop() -> [Action] {
        state = .stopped
        return []
    }

    // MARK: Internals

    private func expiry(_ message: Message, now: Date, lastError: String, requestId: String?) -> Failure? {
        let lifetime = configuration.retry.lifetime
        guard now >= message.lifetimeStartedAt.addingTimeInterval(lifetime.seconds) else { return nil }
        return Failure(
            kind: .expired,
            reason: "message expired: not delivered within \(Self.format(lifetime)); last error: \(lastError)",
            status: "4.4.7",
            requestId: requestId
        )
    }

    static func format(_ duration: Duration) -> String {
        let seconds = Int(duration.seconds.rounded())
        if seconds % 86400 == 0 && seconds > 0 { return "\(seconds / 86400)d" }
        if seconds % 3600 == 0 && seconds > 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 && seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    private mutating func insert(_ message: Message) {
        let key = MailboxKey(message.application, message.mailbox)
        nextGeneration += 1
        let generation = nextGeneration
        items[message.id] = Item(message: message, key: key, generation: generation)
        if mailboxes[key] == nil {
            mailboxes[key] = Mailbox(
                bucket: TokenBucket(capacity: configuration.burst, perMinute: configuration.messagesPerMinute, now: message.notBefore),
                uploads: UploadWindow(limit: configuration.uploadBytesPerWindow, window: configuration.uploadWindow.seconds)
            )
            ring.append(key)
        }
        let entry = Entry(notBefore: message.notBefore, id: message.id, generation: generation)
        if uploadCost(message.id) > 0 {
            mailboxes[key]!.uploadHeap.insert(entry)
        } else {
            mailboxes[key]!.heap.insert(entry)
        }
    }

    /// The bytes a message counts against its mailbox's upload budget: its size when it is
    /// large enough to be uploaded through a draft, else nothing.
    private func uploadCost(_ id: QueueID) -> Int {
        guard configuration.uploadBytesPerWindow > 0, let size = items[id]?.message.size, size > configuration.uploadCostThreshold else { return 0 }
        return size
    }

    private mutating func endFlight(_ item: Item) {
        var item = item
        item.inFlight = false
        items[item.message.id] = item
        inFlightCount -= 1
        mailboxes[item.key]?.inFlight -= 1
    }

    /// The first live entry of a mailbox's heap (dropping stale ones): of the messages that cost
    /// no upload budget, or (`large`) of those that do.
    private mutating func head(_ key: MailboxKey, large: Bool) -> Entry? {
        while let top = large ? mailboxes[key]?.uploadHeap.min : mailboxes[key]?.heap.min {
            if let item = items[top.id], !item.inFlight, item.generation == top.generation, item.key == key {
                return top
            }
            if large { _ = mailboxes[key]!.uploadHeap.popMin() } else { _ = mailboxes[key]!.heap.popMin() }
        }
        return nil
    }

    /// Whether the mailbox has anything queued.
    private mutating func hasQueued(_ key: MailboxKey) -> Bool {
        head(key, large: false) != nil || head(key, large: true) != nil
    }

    private func applicationPaused(_ application: String, now: Date) -> Date? {
        guard let until = applications[application]?.pausedUntil, until > now else { return nil }
        return until
    }

    /// Starts every message that may start now, round-robin over the mailboxes, and says when to
    /// look again.
    private mutating func dispatch(now: Date) -> [Action] {
        guard state == .running else { return [] }
        var actions: [Action] = []
        var progress = true
        while progress && inFlightCount < configuration.maxConcurrentDeliveries && !ring.isEmpty {
            progress = false
            let count = ring.count
            let start = cursor % count
            for step in 0..<count {
                guard inFlightCount < configuration.maxConcurrentDeliveries else { break }
                let index = (start + step) % count
                if let id = startNext(ring[index], now: now) {
                    actions.append(.deliver(id))
                    cursor = index + 1
                    progress = true
                }
            }
        }
        pruneIdleMailboxes(now: now)
        if let wake = nextWakeUp(now: now) {
            actions.append(.wakeUp(at: wake))
        }
        return actions
    }

    private mutating func startNext(_ key: MailboxKey, now: Date) -> QueueID? {
        guard let mailbox = mailboxes[key] else { return nil }
        if mailbox.inFlight >= configuration.concurrencyPerMailbox { return nil }
        if let until = mailbox.pausedUntil, until > now { return nil }
        if applicationPaused(key.application, now: now) != nil { return nil }
        guard mailboxes[key]!.bucket.canTake(at: now) else { return nil }
        // The message due first, unless it is a large one without upload budget yet.
        var pick: (entry: Entry, large: Bool)?
        if let small = head(key, large: false), small.notBefore <= now { pick = (small, false) }
        if let large = head(key, large: true), large.notBefore <= now, pick.map({ large < $0.entry }) ?? true,
            mailboxes[key]!.uploads.canStart(uploadCost(large.id), at: now) {
            pick = (large, true)
        }
        guard let (entry, large) = pick else { return nil }
        if large {
            _ = mailboxes[key]!.uploadHeap.popMin()
            mailboxes[key]!.uploads.start(uploadCost(entry.id), at: now)
        } else {
            _ = mailboxes[key]!.heap.popMin()
        }
        mailboxes[key]!.bucket.take(at: now)
        mailboxes[key]!.inFlight += 1
        inFlightCount += 1
        items[entry.id]!.inFlight = true
        return entry.id
    }

    private mutating func nextWakeUp(now: Date) -> Date? {
        guard inFlightCount < configuration.maxConcurrentDeliveries else { return nil }
        var wake: Date?
        for key in ring {
            guard let mailbox = mailboxes[key], mailbox.inFlight < configuration.concurrencyPerMailbox else { continue }
            for large in [false, true] {
                guard let entry = head(key, large: large) else { continue }
                var time = entry.notBefore
                if let until = mailbox.pausedUntil { time = max(time, until) }
                if let until = applicationPaused(key.application, now: now) { time = max(time, until) }
                time = max(time, mailbox.bucket.nextTokenTime(after: now))
                if large { time = max(time, mailbox.uploads.nextStart(for: uploadCost(entry.id), after: now)) }
                if time > now {
                    wake = min(wake ?? time, time)
                }
            }
        }
        return wake
    }

    /// Forgets mailboxes with nothing queued, nothing in flight, no pause and a full bucket.
    private mutating func pruneIdleMailboxes(now: Date) {
        guard ring.count > 64 || items.isEmpty else { return }
        var kept: [MailboxKey] = []
        for (index, key) in ring.enumerated() {
            let idle: Bool
            if let mailbox = mailboxes[key] {
                idle = mailbox.inFlight == 0 && !hasQueued(key) && (mailbox.pausedUntil.map { $0 <= now } ?? true)
                    && mailboxes[key]!.bucket.isFull(at: now) && mailboxes[key]!.uploads.isEmpty(at: now)
            } else {
                idle = true
            }
            if idle {
                mailboxes[key] = nil
                if index < cursor { cursor -= 1 }
            } else {
                kept.append(key)
            }
        }
        ring = kept
        if cursor > ring.count { cursor = 0 }
    }
}
