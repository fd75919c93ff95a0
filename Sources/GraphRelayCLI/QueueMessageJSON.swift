import Foundation
import GraphRelaySpool

/// One message as `queue list --json` and `queue show --json` print it, for scripts: a stable
/// set of keys (not the spool's on-disk format, which may change), dates as RFC 3339 UTC with
/// milliseconds, absent values as `null`.
struct QueueMessageJSON: Encodable {
    struct Header: Encodable {
        var name: String
        var value: String
    }

    var id: String
    var state: String
    var sender: String
    var recipients: [String]
    var application: String
    var mailbox: String
    var receivedAt: String
    var size: Int64
    var messageId: String?
    var attempts: Int
    var nextAttemptAt: String
    var lastAttemptAt: String?
    var lastError: String?
    var lastRequestId: String?
    var failedAt: String?
    var failureStatus: String?
    var failureReason: String?
    /// `queue show --json` only: the header fields as the device sent them, unfolded.
    var headers: [Header]?

    init(_ record: SpoolRecord, headers: MessageHeaders? = nil) {
        id = record.id.rawValue
        state = record.state.rawValue
        sender = record.sender
        recipients = record.recipients
        application = record.route.application
        mailbox = record.route.mailbox
        receivedAt = SpoolJSON.formatDate(record.receivedAt)
        size = record.size
        messageId = record.messageId
        attempts = record.attempts
        nextAttemptAt = SpoolJSON.formatDate(record.nextAttemptAt)
        lastAttemptAt = record.lastAttemptAt.map(SpoolJSON.formatDate)
        lastError = record.lastError
        lastRequestId = record.lastRequestId
        failedAt = record.failedAt.map(SpoolJSON.formatDate)
        failureStatus = record.failureStatus
        failureReason = record.failureReason
        self.headers = headers?.fields.map { Header(name: $0.name, value: $0.value) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(state, forKey: .state)
        try container.encode(sender, forKey: .sender)
        try container.encode(recipients, forKey: .recipients)
        try container.encode(application, forKey: .application)
        try container.encode(mailbox, forKey: .mailbox)
        try container.encode(receivedAt, forKey: .receivedAt)
        try container.encode(size, forKey: .size)
        try container.encode(messageId, forKey: .messageId)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(nextAttemptAt, forKey: .nextAttemptAt)
        try container.encode(lastAttemptAt, forKey: .lastAttemptAt)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(lastRequestId, forKey: .lastRequestId)
        try container.encode(failedAt, forKey: .failedAt)
        try container.encode(failureStatus, forKey: .failureStatus)
        try container.encode(failureReason, forKey: .failureReason)
        if let headers { try container.encode(headers, forKey: .headers) }
    }

    private enum CodingKeys: String, CodingKey {
        case id, state, sender, recipients, application, mailbox, receivedAt, size, messageId, attempts
        case nextAttemptAt, lastAttemptAt, lastError, lastRequestId, failedAt, failureStatus, failureReason, headers
    }

    /// `value` as pretty-printed JSON with sorted keys.
    static func text<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
