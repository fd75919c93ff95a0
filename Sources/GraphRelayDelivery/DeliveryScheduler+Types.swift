import Foundation
import GraphRelaySpool

// What the scheduler takes in and hands out: messages, failures and the actions for its driver.
extension DeliveryScheduler {
    /// A queued message as the scheduler sees it.
    public struct Message: Sendable, Equatable {
        public var id: QueueID
        public var application: String
        public var mailbox: String
        /// Not started before this time.
        public var notBefore: Date
        /// The lifetime counts from here.
        public var lifetimeStartedAt: Date
        /// Transient failures so far (the backoff exponent).
        public var transientFailures: Int
        /// Size in bytes, for the upload budget.
        public var size: Int

        public init(id: QueueID, application: String, mailbox: String, notBefore: Date, lifetimeStartedAt: Date,
                    transientFailures: Int = 0, size: Int = 0) {
            self.id = id
            self.application = application
            self.mailbox = mailbox
            self.notBefore = notBefore
            self.lifetimeStartedAt = lifetimeStartedAt
            self.transientFailures = transientFailures
            self.size = size
        }

        public init(_ record: SpoolRecord) {
            self.init(
                id: record.id,
                application: record.route.application,
                mailbox: record.route.mailbox,
                notBefore: record.nextAttemptAt,
                lifetimeStartedAt: record.lifetimeStartedAt,
                transientFailures: record.transientFailures,
                size: Int(record.size)
            )
        }
    }

    /// Why a message goes back to the queue.
    public enum RescheduleReason: Sendable, Equatable {
        /// A transient failure (counts towards the backoff).
        case transient(reason: String, ambiguous: Bool, requestId: String?)
        /// Graph throttled the mailbox (429).
        case throttled(requestId: String?)
        /// No token for the application.
        case tokenFailure(reason: String)
    }

    /// Why a message is given up.
    public struct Failure: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case permanent
            case expired
        }

        public var kind: Kind
        public var reason: String
        /// Enhanced status code: the outcome's for permanent failures, `4.4.7` for expiry.
        public var status: String
        public var requestId: String?

        public init(kind: Kind, reason: String, status: String, requestId: String?) {
            self.kind = kind
            self.reason = reason
            self.status = status
            self.requestId = requestId
        }
    }

    public enum Action: Sendable, Equatable {
        /// Start delivering this message now.
        case deliver(QueueID)
        /// Put it back in the queue, due at `notBefore`.
        case reschedule(QueueID, notBefore: Date, reason: RescheduleReason)
        /// Delivered: remove it from the spool.
        case complete(QueueID, requestId: String?)
        /// Give up: move it to `failed/` (and bounce).
        case fail(QueueID, Failure)
        /// Informational: the mailbox is paused (429) until then.
        case pauseMailbox(application: String, mailbox: String, until: Date)
        /// Informational: the application is paused (token failure) until then.
        case pauseApplication(String, until: Date)
        /// Call ``tick(now:)`` at this time.
        case wakeUp(at: Date)
    }

    /// The queue at one moment (``DeliveryScheduler/snapshot(now:)``).
    public struct Snapshot: Sendable, Equatable {
        /// A pause in force: a mailbox's (429) or, with `mailbox` nil, an application's (token failures).
        public struct Pause: Sendable, Equatable {
            public var application: String
            public var mailbox: String?
            public var until: Date
        }

        /// Waiting for their first attempt, due now or soon.
        public var queued = 0
        /// Waiting for a retry after a failed attempt or a pause.
        public var deferred = 0
        /// Attempts under way.
        public var inFlight = 0
        /// When the lifetime of the oldest message began (nil when the queue is empty).
        public var oldest: Date?
        public var pausedMailboxes: [Pause] = []
        public var pausedApplications: [Pause] = []

        public init() {}
    }
}
