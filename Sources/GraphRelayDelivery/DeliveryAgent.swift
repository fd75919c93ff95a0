import Foundation
import GraphRelaySpool
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Runs the ``DeliveryScheduler`` against a ``Spool``: loads the queue, starts deliveries through
/// the `deliver` closure, records their outcomes in the spool, queues delivery status
/// notifications for failures, follows changes made by queue tooling, and stops gracefully.
///
/// ```swift
/// let agent = DeliveryAgent(spool: spool, configuration: config, logger: logger) { message in
///     await graph.send(message)   // → DeliveryOutcome
/// }
/// try await agent.start()
/// …
/// await agent.stop(gracePeriod: .seconds(30))
/// ```
/// Messages committed to the spool by this process are picked up at once (commit observer).
///
/// (Over 400 lines on purpose: the actor's isolated state — timer, poller, inbox of commits,
/// deliveries in flight — is what its methods share; extensions in other files could reach it
/// only by making it visible to the whole module.)
public actor DeliveryAgent {
    public typealias Deliver = @Sendable (SpooledMessage) async -> DeliveryOutcome
    /// Called for a message that is given up while its record still names a draft (see
    /// ``SpoolRecord/draft``), before it moves to `failed/`: remove the draft at the far end.
    public typealias Abandon = @Sendable (SpoolRecord) async -> Void
    /// Told of every finished attempt (after its log line), on the agent.
    public typealias Report = @Sendable (DeliveryReport) -> Void

    private enum State {
        case idle
        case running
        case stopping
        case stopped
    }

    public let spool: Spool
    public let configuration: DeliveryAgentConfiguration
    private let clock: any SpoolClock
    private let logger: Logger
    private let deliver: Deliver
    private let abandon: Abandon?
    private let report: Report?

    private var state = State.idle
    private var scheduler: DeliveryScheduler
    private var deliveries: [QueueID: Task<Void, Never>] = [:]
    /// Spool writes in progress per message; a message's next step waits for them.
    private var bookkeeping: [QueueID: (token: Int, task: Task<Void, Never>)] = [:]
    private var nextToken = 0
    private var timer: (deadline: Date, task: Task<Void, Never>)?
    private var poller: Task<Void, Never>?
    private var observer: UUID?
    private var lastKick: Posix.FileIdentity?
    private var lastRescan = Date.distantPast
    private var counters = DeliveryMetrics()
    /// Messages committed by this process and not yet taken in: a burst of commits wakes the
    /// agent once, not once per message.
    private nonisolated let committedInbox = NIOLockedValueBox<(records: [SpoolRecord], drainScheduled: Bool)>(([], false))

    public init(
        spool: Spool,
        configuration: DeliveryAgentConfiguration = DeliveryAgentConfiguration(),
        clock: any SpoolClock = SystemSpoolClock(),
        logger: Logger = Logger(label: "graph-relay.delivery"),
        abandon: Abandon? = nil,
        report: Report? = nil,
        deliver: @escaping Deliver
    ) {
        self.report = report
        self.spool = spool
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.abandon = abandon
        self.deliver = deliver
        self.scheduler = DeliveryScheduler(configuration: configuration.scheduler)
    }

    /// Counters since start, with the current queue and in-flight sizes.
    public var metrics: DeliveryMetrics {
        var snapshot = counters
        snapshot.inFlight = scheduler.inFlightCount
        snapshot.queued = scheduler.count
        return snapshot
    }

    /// The queue as the scheduler holds it now: what the metrics and the status page show.
    public func snapshot() -> DeliveryScheduler.Snapshot {
        scheduler.snapshot(now: clock.now())
    }

    /// Loads the queue and starts delivering.
    public func start() async throws {
        guard state == .idle else { return }
        state = .running
        observer = spool.addCommitObserver { [weak self] record in
            guard let self else { return }
            let schedule = self.committedInbox.withLockedValue { inbox -> Bool in
                inbox.records.append(record)
                if inbox.drainScheduled { return false }
                inbox.drainScheduled = true
                return true
            }
            if schedule {
                Task { await self.takeCommitted() }
            }
        }
        lastKick = spool.kickStamp()
        let records: [SpoolRecord]
        do {
            records = try await spool.list(.queue)
        } catch {
            if let observer { spool.removeCommitObserver(observer) }
            observer = nil
            state = .idle
            throw error
        }
        lastRescan = clock.now()
        let now = clock.now()
        for record in records {
            perform(scheduler.enqueue(DeliveryScheduler.Message(record), now: now))
        }
        logger.info("delivery agent started", metadata: ["relay.queued": "\(records.count)"])
        startPoller()
    }

    /// Stops taking new work, waits up to `gracePeriod` for deliveries under way, releases the
    /// rest back to `queued` (their outcome is unknown: they are retried at the next start, as
    /// ambiguous attempts), and waits for the spool bookkeeping to finish.
    public func stop(gracePeriod: Duration = .seconds(30)) async {
        guard state == .running || state == .idle else { return }
        state = .stopping
        _ = scheduler.stop()
        timer?.task.cancel()
        timer = nil
        poller?.cancel()
        poller = nil
        if let observer { spool.removeCommitObserver(observer) }
        observer = nil

        let deadline = ContinuousClock.now + gracePeriod
        while !deliveries.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let unfinished = deliveries
        deliveries = [:]
        let now = clock.now()
        for (id, task) in unfinished {
            task.cancel()
            _ = scheduler.released(id, now: now)
            logger.warning(
                "delivery still under way at shutdown; released back to the queue (outcome unknown, it will be retried)",
                metadata: ["relay.queue-id": "\(id)"]
            )
            record(id) { spool in try await spool.recordAttempt(id, .released, now: now) }
        }
        while let (_, entry) = bookkeeping.first {
            await entry.task.value
        }
        state = .stopped
        logger.info("delivery agent stopped", metadata: ["relay.released": "\(unfinished.count)"])
    }

    /// Makes a message (or all, with nil) due now, as `queue retry` does from another process.
    public func retryNow(_ id: QueueID?) {
        guard state == .running else { return }
        perform(scheduler.retryNow(id, now: clock.now()))
    }

    /// Re-reads the queue directory now (also done periodically and when tooling kicks).
    public func rescan() async {
        guard state == .running else { return }
        let known = Set(scheduler.ids)
        let records: [SpoolRecord]
        do {
            records = try await spool.list(.queue)
        } catch {
            counters.spoolErrors += 1
            logger.error("cannot read the queue", metadata: ["relay.error": "\(error)"])
            return
        }
        guard state == .running else { return }
        lastRescan = clock.now()
        let now = clock.now()
        var onDisk = Set<QueueID>()
        for record in records {
            onDisk.insert(record.id)
            if bookkeeping[record.id] != nil || scheduler.isInFlight(record.id) { continue }
            if let current = scheduler.message(record.id) {
                // Only an earlier due time can come from outside (queue retry); ours are newer.
                if record.nextAttemptAt < current.notBefore.addingTimeInterval(-0.5) {
                    perform(scheduler.enqueue(DeliveryScheduler.Message(record), now: now))
                }
            } else {
                perform(scheduler.enqueue(DeliveryScheduler.Message(record), now: now))
            }
        }
        for id in known.subtracting(onDisk) where !scheduler.isInFlight(id) && bookkeeping[id] == nil {
            logger.info("message left the queue (deleted by queue tooling)", metadata: ["relay.queue-id": "\(id)"])
            perform(scheduler.remove(id, now: now))
        }
    }

    // MARK: Events

    private func takeCommitted() {
        let records = committedInbox.withLockedValue { inbox -> [SpoolRecord] in
            defer {
                inbox.records = []
                inbox.drainScheduled = false
            }
            return inbox.records
        }
        guard state == .running else { return }
        let now = clock.now()
        for record in records {
            perform(scheduler.enqueue(DeliveryScheduler.Message(record), now: now))
        }
    }

    private func timerFired(_ deadline: Date) {
        guard state == .running, timer?.deadline == deadline else { return }
        timer = nil
        perform(scheduler.tick(now: clock.now()))
    }

    private func deliveryFinished(_ id: QueueID, _ outcome: DeliveryOutcome, _ message: SpooledMessage) {
        guard deliveries.removeValue(forKey: id) != nil else { return }  // released at shutdown
        // One line per finished attempt, with what an operator greps for when a user asks where
        // a scan went (docs/spool.md, "The delivery log line").
        let record = message.record
        var metadata: Logger.Metadata = [
            "relay.queue-id": "\(id)",
            "relay.mailbox": "\(record.route.mailbox)",
            "relay.application": "\(record.route.application)",
            "relay.sender": "\(record.sender)",
            "relay.recipients": "\(record.recipients.count)",
            "relay.size": "\(record.size)",
            "relay.attempt": "\(record.attempts)",
            "relay.delay": "\(String(format: "%.3f", clock.now().timeIntervalSince(record.receivedAt)))s",
            "relay.outcome": "\(outcome.logName)",
        ]
        if let messageId = record.messageId { metadata["relay.message-id"] = "\(messageId)" }
        if let clientRequestId = outcome.clientRequestId { metadata["graph.client-request-id"] = "\(clientRequestId)" }
        switch outcome {
        case .delivered(let requestId, _):
            counters.delivered += 1
            if let requestId { metadata["graph.request-id"] = "\(requestId)" }
            logger.info("message delivered", metadata: metadata)
        case .transient(let reason, _, let ambiguous, let requestId, _):
            counters.deferred += 1
            if let requestId { metadata["graph.request-id"] = "\(requestId)" }
            metadata["relay.reason"] = "\(reason)"
            if ambiguous {
                counters.ambiguousRetries += 1
                logger.warning(
                    "delivery outcome unknown (Graph may have stored the message); retrying with the same Message-ID",
                    metadata: metadata
                )
            } else {
                logger.notice("delivery deferred", metadata: metadata)
            }
        case .permanent(let reason, _, let requestId, _):
            if let requestId { metadata["graph.request-id"] = "\(requestId)" }
            metadata["relay.reason"] = "\(reason)"
            logger.warning("delivery failed permanently", metadata: metadata)
        case .throttled(let retryAfter, let requestId, _):
            counters.throttled += 1
            if let requestId { metadata["graph.request-id"] = "\(requestId)" }
            metadata["relay.retry-after"] = "\(retryAfter.map { "\($0.seconds)s" } ?? "none")"
            logger.notice("Graph throttled the mailbox (429)", metadata: metadata)
        case .tokenFailure(let reason):
            counters.tokenFailures += 1
            metadata["relay.reason"] = "\(reason)"
            logger.error("no access token; the application's deliveries are paused", metadata: metadata)
        }
        report?(DeliveryReport(
            queueID: "\(id)", messageID: record.messageId, sender: "\(record.sender)", recipients: record.recipients.count,
            size: Int(record.size), application: record.route.application, mailbox: record.route.mailbox, attempt: record.attempts,
            receivedAt: record.receivedAt, finishedAt: clock.now(), outcome: outcome
        ))
        guard state == .running || state == .stopping else { return }
        perform(scheduler.finished(id, outcome: outcome, now: clock.now()))
    }

    private func deliveryDidNotStart(_ id: QueueID, _ error: any Error) {
        guard deliveries.removeValue(forKey: id) != nil else { return }
        let now = clock.now()
        if case SpoolError.notFound = error {
            logger.info("message left the queue before delivery", metadata: ["relay.queue-id": "\(id)"])
            _ = scheduler.remove(id, now: now)
            perform(scheduler.released(id, now: now))
        } else {
            counters.spoolErrors += 1
            logger.error("cannot start delivery: spool error", metadata: ["relay.queue-id": "\(id)", "relay.error": "\(error)"])
            perform(scheduler.released(id, notBefore: now.addingTimeInterval(configuration.spoolErrorDelay.seconds), now: now))
        }
    }

    // MARK: Actions

    private func perform(_ actions: [DeliveryScheduler.Action]) {
        var wake: Date?
        for action in actions {
            switch action {
            case .deliver(let id):
                startDelivery(id)
            case .reschedule(let id, let notBefore, let reason):
                let result: SpoolAttemptResult
                switch reason {
                case .transient(let text, let ambiguous, let requestId):
                    result = .deferred(nextAttemptAt: notBefore, error: text, requestId: requestId, transientFailure: true, ambiguous: ambiguous)
                case .throttled(let requestId):
                    result = .deferred(nextAttemptAt: notBefore, error: "throttled by Graph (429)", requestId: requestId, transientFailure: false, ambiguous: false)
                case .tokenFailure(let text):
                    result = .deferred(nextAttemptAt: notBefore, error: "no access token: \(text)", requestId: nil, transientFailure: false, ambiguous: false)
                }
                let now = clock.now()
                record(id) { spool in try await spool.recordAttempt(id, result, now: now) }
            case .complete(let id, let requestId):
                let now = clock.now()
                record(id) { spool in try await spool.recordAttempt(id, .delivered(requestId: requestId), now: now) }
            case .fail(let id, let failure):
                if failure.kind == .expired { counters.expired += 1 } else { counters.failedPermanently += 1 }
                let now = clock.now()
                let abandon = self.abandon
                record(id) { [weak self] spool in
                    if let abandon, let record = try? await spool.message(id).record, record.draft != nil {
                        await abandon(record)
                    }
                    let (bounceId, suppressed) = await self?.bounce(id, failure: failure, now: now) ?? (nil, "agent gone")
                    try await spool.recordAttempt(
                        id,
                        .failed(reason: failure.reason, status: failure.status, requestId: failure.requestId, bounceId: bounceId, bounceSuppressed: suppressed),
                        now: now
                    )
                }
                logger.warning(
                    failure.kind == .expired ? "message expired; moved to failed/" : "message failed; moved to failed/",
                    metadata: ["relay.queue-id": "\(id)", "relay.reason": "\(failure.reason)", "relay.status": "\(failure.status)"]
                )
            case .pauseMailbox(let application, let mailbox, let until):
                logger.notice(
                    "mailbox paused after 429",
                    metadata: ["relay.application": "\(application)", "relay.mailbox": "\(mailbox)", "relay.until": "\(SpoolJSON.formatDate(until))"]
                )
            case .pauseApplication(let application, let until):
                logger.error(
                    "application paused: no access token",
                    metadata: ["relay.application": "\(application)", "relay.until": "\(SpoolJSON.formatDate(until))"]
                )
            case .wakeUp(let at):
                wake = at
            }
        }
        guard state == .running else { return }
        if let wake {
            // A running timer that fires no later than needed is kept: when it fires, the tick
            // finds the next wake-up. (Replacing it on every commit would create and cancel a
            // task per message.)
            if timer.map({ $0.deadline > wake }) ?? true {
                timer?.task.cancel()
                let clock = self.clock
                timer = (wake, Task { [weak self] in
                    do { try await clock.sleep(until: wake) } catch { return }
                    await self?.timerFired(wake)
                })
            }
        } else {
            timer?.task.cancel()
            timer = nil
        }
    }

    private func startDelivery(_ id: QueueID) {
        let previous = bookkeeping[id]?.task
        let spool = self.spool
        let clock = self.clock
        let deliver = self.deliver
        deliveries[id] = Task { [weak self] in
            await previous?.value
            let message: SpooledMessage
            do {
                try Task.checkCancellation()
                message = try await spool.beginDelivery(id, now: clock.now())
            } catch {
                await self?.deliveryDidNotStart(id, error)
                return
            }
            let outcome = await deliver(message)
            await self?.deliveryFinished(id, outcome, message)
        }
    }

    /// Runs a spool update for `id` after the previous one for it.
    private func record(_ id: QueueID, _ body: @escaping @Sendable (Spool) async throws -> Void) {
        let previous = bookkeeping[id]?.task
        let spool = self.spool
        nextToken += 1
        let token = nextToken
        let task = Task { [weak self] in
            await previous?.value
            do {
                try await body(spool)
            } catch SpoolError.notFound {
                self?.logger.info("message left the queue meanwhile (deleted by queue tooling)", metadata: ["relay.queue-id": "\(id)"])
            } catch {
                await self?.spoolFailed(id, error)
            }
            await self?.bookkeepingDone(id, token: token)
        }
        bookkeeping[id] = (token, task)
    }

    private func bookkeepingDone(_ id: QueueID, token: Int) {
        // Only the latest update of a message clears the entry.
        if bookkeeping[id]?.token == token {
            bookkeeping[id] = nil
        }
    }

    private func spoolFailed(_ id: QueueID, _ error: any Error) {
        counters.spoolErrors += 1
        logger.error("spool update failed", metadata: ["relay.queue-id": "\(id)", "relay.error": "\(error)"])
    }

    /// Queues a delivery status notification for a failed message, if the policy allows one.
    private func bounce(_ id: QueueID, failure: DeliveryScheduler.Failure, now: Date) async -> (QueueID?, String?) {
        do {
            let message = try await spool.message(id)
            let headerBlock = try await message.readHeaderBlock()
            let headerBytes = Array(headerBlock.readableBytesView)
            let record = message.record
            switch configuration.bounces.decide(sender: record.sender, headers: MessageHeaders(headerBytes)) {
            case .suppress(let reason):
                counters.bouncesSuppressed += 1
                logger.info("no delivery status notification", metadata: ["relay.queue-id": "\(id)", "relay.reason": "\(reason)"])
                return (nil, reason)
            case .send(let recipient):
                let notification = DeliveryStatusNotification(
                    reportingMTA: configuration.reportingMTA,
                    from: record.route.mailbox,
                    to: recipient,
                    queueID: id,
                    originalSender: record.sender,
                    originalRecipients: record.recipients,
                    arrivalDate: record.receivedAt,
                    originalHeaders: headerBytes,
                    status: failure.status,
                    reason: failure.reason,
                    expired: failure.kind == .expired,
                    requestId: failure.requestId,
                    date: now
                )
                let envelope = SpoolEnvelope(
                    sender: "",
                    recipients: [recipient],
                    route: SpoolRoute(application: record.route.application, mailbox: record.route.mailbox, rewriteFrom: false),
                    receivedAt: now,
                    attributes: ["bounceFor": id.rawValue]
                )
                let bounce = try await spool.write(ByteBuffer(bytes: notification.render()), envelope: envelope)
                counters.bouncesQueued += 1
                logger.info(
                    "delivery status notification queued",
                    metadata: ["relay.queue-id": "\(id)", "relay.bounce-id": "\(bounce.id)", "relay.to": "\(recipient)"]
                )
                return (bounce.id, nil)
            }
        } catch {
            counters.spoolErrors += 1
            logger.error("cannot queue the delivery status notification", metadata: ["relay.queue-id": "\(id)", "relay.error": "\(error)"])
            return (nil, "could not be queued: \(error)")
        }
    }

    // MARK: Following queue tooling

    private func startPoller() {
        let clock = self.clock
        let interval = configuration.kickPollInterval.seconds
        poller = Task { [weak self] in
            while !Task.isCancelled {
                do { try await clock.sleep(until: clock.now().addingTimeInterval(interval)) } catch { return }
                guard let self else { return }
                await self.poll()
            }
        }
    }

    private func poll() async {
        guard state == .running else { return }
        let kick = spool.kickStamp()
        let due = clock.now().timeIntervalSince(lastRescan) >= configuration.rescanInterval.seconds
        if kick != lastKick || due {
            lastKick = kick
            await rescan()
        }
    }
}
