import Foundation
import GraphRelaySpool

/// One message as `queue list --json` and `queue show --json` print it, for scripts: a stable
/// set of keys (not the spool's on-disk format, which may change), dates as RFC 3339 UTC with
/// milliseconds; a key whose value is absent (no Message-ID, no attempt yet) is left out.
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

    /// `value` as pretty-printed JSON with sorted keys.
    static func text<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
