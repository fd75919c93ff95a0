import Foundation
import GraphRelayMIME

/// Where a message is in its life.
public enum SpoolMessageState: String, Codable, Sendable, Equatable {
    /// Waiting for its next attempt.
    case queued
    /// A delivery attempt is under way. Not written to the metadata file any more: it is what
    /// ``Spool/beginDelivery(_:now:)`` returns and what listing shows for a message with an
    /// attempt in `attempts.log` (older spools may still have it on disk; recovery requeues it).
    case delivering
    /// Given up (permanent failure or lifetime expired); kept in `failed/` with the reason.
    case failed
}

/// A message's metadata: the JSON sidecar `<id>.json` next to the message file `<id>.eml` (which
/// also ends with the metadata as committed, format 2).
/// See docs/spool.md for the on-disk format.
public struct SpoolRecord: Codable, Sendable, Equatable {
    /// The format version: 3 — as 2, with the ``checksum`` of the message bytes; 2 — the message
    /// file ends with this record as it was committed (``SpoolTrailer``); 1 — messages committed
    /// by versions before 0.9.1, whose file holds the message bytes only. All are read.
    public var version: Int
    public var id: QueueID
    public var state: SpoolMessageState
    public var sender: String
    public var recipients: [String]
    public var route: SpoolRoute
    public var receivedAt: Date
    public var attributes: [String: String]
    /// Size of the message in bytes (the start of `<id>.eml`; the whole file in format 1); checked
    /// when the message is read back.
    public var size: Int64
    /// The message's `Message-ID:` header as found at commit, if any.
    public var messageId: String?
    /// Delivery attempts started (including ones interrupted by a crash or throttled).
    public var attempts: Int
    /// Transient failures so far; the exponent of the backoff.
    public var transientFailures: Int
    /// Attempts whose outcome was unknown (Graph may have stored the message): retried anyway.
    public var ambiguousAttempts: Int
    /// The earliest time of the next attempt.
    public var nextAttemptAt: Date
    public var lastAttemptAt: Date?
    public var lastError: String?
    /// Graph's `request-id` of the last attempt, for support cases.
    public var lastRequestId: String?
    /// The lifetime counts from here: `receivedAt`, or when the message was taken back from
    /// `failed/` by `queue retry`.
    public var lifetimeStartedAt: Date
    public var failedAt: Date?
    public var failureReason: String?
    /// Enhanced status code of the failure (`5.1.1`, `4.4.7` for an expired message, …).
    public var failureStatus: String?
    /// The delivery status notification queued for this failure, if one was.
    public var bounceId: QueueID?
    /// Why no notification was sent, if none was.
    public var bounceSuppressed: String?
    /// The draft a delivery attempt is building or sending, if any (see ``SpoolDraft``).
    public var draft: SpoolDraft?
    /// CRC-32C of the `size` message bytes (format 3): recovery checks it for a message written
    /// into a slot whose commit may have been cut short (docs/spool.md, "Slots").
    public var checksum: UInt32?

    /// The version of records written now.
    static let currentVersion = 3

    public init(id: QueueID, envelope: SpoolEnvelope, size: Int64, messageId: String?, checksum: UInt32? = nil) {
        self.version = checksum == nil ? SpoolTrailer.version : Self.currentVersion
        self.checksum = checksum
        self.id = id
        self.state = .queued
        self.sender = envelope.sender
        self.recipients = envelope.recipients
        self.route = envelope.route
        self.receivedAt = SpoolJSON.stored(envelope.receivedAt)
        self.attributes = envelope.attributes
        self.size = size
        self.messageId = messageId
        self.attempts = 0
        self.transientFailures = 0
        self.ambiguousAttempts = 0
        self.nextAttemptAt = self.receivedAt
        self.lifetimeStartedAt = self.receivedAt
    }

    public var envelope: SpoolEnvelope {
        SpoolEnvelope(sender: sender, recipients: recipients, route: route, receivedAt: receivedAt, attributes: attributes)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        id = try c.decode(QueueID.self, forKey: .id)
        state = try c.decode(SpoolMessageState.self, forKey: .state)
        sender = try c.decode(String.self, forKey: .sender)
        recipients = try c.decode([String].self, forKey: .recipients)
        route = try c.decode(SpoolRoute.self, forKey: .route)
        receivedAt = try c.decode(Date.self, forKey: .receivedAt)
        attributes = try c.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
        size = try c.decode(Int64.self, forKey: .size)
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "a negative size (\(size))")
        }
        messageId = try c.decodeIfPresent(String.self, forKey: .messageId)
        attempts = try c.decodeIfPresent(Int.self, forKey: .attempts) ?? 0
        transientFailures = try c.decodeIfPresent(Int.self, forKey: .transientFailures) ?? 0
        ambiguousAttempts = try c.decodeIfPresent(Int.self, forKey: .ambiguousAttempts) ?? 0
        nextAttemptAt = try c.decodeIfPresent(Date.self, forKey: .nextAttemptAt) ?? receivedAt
        lastAttemptAt = try c.decodeIfPresent(Date.self, forKey: .lastAttemptAt)
        lastError = try c.decodeIfPresent(String.self, forKey: .lastError)
        lastRequestId = try c.decodeIfPresent(String.self, forKey: .lastRequestId)
        lifetimeStartedAt = try c.decodeIfPresent(Date.self, forKey: .lifetimeStartedAt) ?? receivedAt
        failedAt = try c.decodeIfPresent(Date.self, forKey: .failedAt)
        failureReason = try c.decodeIfPresent(String.self, forKey: .failureReason)
        failureStatus = try c.decodeIfPresent(String.self, forKey: .failureStatus)
        bounceId = try c.decodeIfPresent(QueueID.self, forKey: .bounceId)
        bounceSuppressed = try c.decodeIfPresent(String.self, forKey: .bounceSuppressed)
        draft = try c.decodeIfPresent(SpoolDraft.self, forKey: .draft)
        checksum = try c.decodeIfPresent(UInt32.self, forKey: .checksum)
    }
}

/// JSON coding of the sidecar: pretty-printed, sorted keys, dates as ISO 8601 UTC with
/// milliseconds (`2025-11-24T23:04:05.123Z`).
package enum SpoolJSON {
    static func encode(_ record: SpoolRecord) throws(SpoolError) -> [UInt8] {
        write(record)
    }

    static func decode(_ bytes: [UInt8], path: String) throws(SpoolError) -> SpoolRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let string = try container.decode(String.self)
            guard let date = parseDate(string) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(string)' is not an ISO 8601 time")
            }
            return date
        }
        do {
            return try decoder.decode(SpoolRecord.self, from: Data(bytes))
        } catch {
            throw .corrupt(path: path, reason: "invalid metadata JSON: \(describe(error))")
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, rounded to the millisecond with integer arithmetic, so a
    /// date read back and written again never drifts.
    package static func formatDate(_ date: Date) -> String {
        UTCTimestamp.string(date)
    }

    /// A date as stored: rounded to the millisecond.
    static func stored(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    static func parseDate(_ string: String) -> Date? {
        if let date = parseStoredDate(string) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(string) { return date }
        return try? Date.ISO8601FormatStyle().parse(string)
    }

    /// The form ``formatDate(_:)`` writes, parsed without a formatter (records are read on every
    /// delivery attempt; Foundation's ISO 8601 parser costs tens of microseconds a date).
    static func parseStoredDate(_ string: String) -> Date? {
        let utf8 = string.utf8
        return utf8.withContiguousStorageIfAvailable { bytes -> Date? in
            // YYYY-MM-DDTHH:MM:SS.mmmZ
            guard bytes.count == 24, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
                bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "."), bytes[23] == UInt8(ascii: "Z")
            else { return nil }
            func number(_ start: Int, _ length: Int) -> Int? {
                var value = 0
                for index in start..<(start + length) {
                    let digit = Int(bytes[index]) - 48
                    guard (0...9).contains(digit) else { return nil }
                    value = value * 10 + digit
                }
                return value
            }
            guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2), let millis = number(20, 3),
                (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
            else { return nil }
            var parts = tm()
            parts.tm_year = Int32(year - 1900)
            parts.tm_mon = Int32(month - 1)
            parts.tm_mday = Int32(day)
            parts.tm_hour = Int32(hour)
            parts.tm_min = Int32(minute)
            parts.tm_sec = Int32(second)
            let seconds = timegm(&parts)
            return Date(timeIntervalSince1970: (Double(Int64(seconds) * 1000 + Int64(millis))) / 1000)
        } ?? nil
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context):
            (context.codingPath.map(\.stringValue).joined(separator: ".") + ": " + context.debugDescription)
        default: "\(error)"
        }
    }
}
