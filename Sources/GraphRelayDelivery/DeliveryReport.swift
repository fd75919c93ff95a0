import Foundation
import GraphRelaySpool

/// One finished delivery attempt, as the delivery log line tells it: what the status page lists
/// and the metrics count.
public struct DeliveryReport: Sendable, Equatable {
    public var queueID: String
    public var messageID: String?
    public var sender: String
    public var recipients: Int
    public var size: Int
    public var application: String
    public var mailbox: String
    /// The attempt's number, from 1.
    public var attempt: Int
    /// When the relay accepted the message.
    public var receivedAt: Date
    public var finishedAt: Date
    public var outcome: DeliveryOutcome

    public init(queueID: String, messageID: String?, sender: String, recipients: Int, size: Int, application: String,
                mailbox: String, attempt: Int, receivedAt: Date, finishedAt: Date, outcome: DeliveryOutcome) {
        self.queueID = queueID
        self.messageID = messageID
        self.sender = sender
        self.recipients = recipients
        self.size = size
        self.application = application
        self.mailbox = mailbox
        self.attempt = attempt
        self.receivedAt = receivedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
    }

    /// From acceptance to the end of this attempt, in seconds.
    public var delay: TimeInterval { finishedAt.timeIntervalSince(receivedAt) }
}
