import Foundation
import GraphRelayMIME
import GraphRelaySpool

/// An RFC 3464 delivery status notification: `multipart/report; report-type=delivery-status`
/// with a human-readable part, a `message/delivery-status` part (one `Final-Recipient` group per
/// envelope recipient, `Action: failed`) and the original header block as `text/rfc822-headers`.
/// ``render()`` gives the bytes (CRLF line ends) ready for Graph's sendMail.
///
/// Internationalised addresses or headers switch to the RFC 6533 types
/// (`message/global-delivery-status`, `message/global-headers`).
public struct DeliveryStatusNotification: Sendable {
    /// The reporting host name (`Reporting-MTA: dns; <name>`).
    public var reportingMTA: String
    /// The mailbox the notification is sent from (the failed message's route mailbox).
    public var from: String
    /// Who gets it: the envelope sender, or the administrator.
    public var to: String
    /// The failed message.
    public var queueID: QueueID
    public var originalSender: String
    public var originalRecipients: [String]
    public var arrivalDate: Date
    /// The failed message's header block.
    public var originalHeaders: [UInt8]
    /// Enhanced status code: `5.x.x` for a permanent failure, `4.4.7` for an expired message.
    public var status: String
    /// Why it failed, for people and for `Diagnostic-Code`.
    public var reason: String
    public var expired: Bool
    public var requestId: String?
    /// When the notification is made (its `Date:` and `Last-Attempt-Date`).
    public var date: Date

    public init(
        reportingMTA: String,
        from: String,
        to: String,
        queueID: QueueID,
        originalSender: String,
        originalRecipients: [String],
        arrivalDate: Date,
        originalHeaders: [UInt8],
        status: String,
        reason: String,
        expired: Bool,
        requestId: String? = nil,
        date: Date = Date()
    ) {
        self.reportingMTA = reportingMTA
        self.from = from
        self.to = to
        self.queueID = queueID
        self.originalSender = originalSender
        self.originalRecipients = originalRecipients
        self.arrivalDate = arrivalDate
        self.originalHeaders = originalHeaders
        self.status = status
        self.reason = reason
        self.expired = expired
        self.requestId = requestId
        self.date = date
    }

    /// The notification's Message-ID.
    public var messageID: String {
        "<\(queueID.rawValue).dsn.\(Int(date.timeIntervalSince1970))@\(Self.ascii(reportingMTA, limit: 200))>"
    }

    /// The complete message.
    public func render() -> [UInt8] {
        let boundary = "=_graph-relay-dsn-\(queueID.rawValue)-\(UInt32.random(in: 0...UInt32.max))"
        let international = (originalRecipients + [originalSender]).contains { !Self.isASCII($0) }
        let headers = Self.normalisedHeaders(originalHeaders)
        let eightBitHeaders = headers.contains { $0 >= 0x80 }
        let originalMessageID = MessageHeaders(originalHeaders).value(of: "Message-ID")
        let redirected = to.lowercased() != originalSender.lowercased()
        let cleanReason = UntrustedText.oneLine(reason, limit: 900)

        var out: [String] = []
        out.append("From: Mail Delivery System <\(from)>")
        out.append("To: <\(to)>")
        out.append("Subject: Undelivered Mail Returned to Sender")
        out.append("Date: \(Self.rfc5322Date(date))")
        out.append("Message-ID: \(messageID)")
        if let originalMessageID {
            out.append("In-Reply-To: \(UntrustedText.oneLine(originalMessageID, limit: 900))")
            out.append("References: \(UntrustedText.oneLine(originalMessageID, limit: 900))")
        }
        out.append("Auto-Submitted: auto-replied")
        out.append("MIME-Version: 1.0")
        out.append("Content-Type: multipart/report; report-type=delivery-status;")
        out.append(" boundary=\"\(boundary)\"")
        out.append("")
        out.append("This is a MIME-encapsulated message.")
        out.append("")

        // 1. For people.
        var human: [String] = []
        human.append("This is the graph-relay mail system at \(reportingMTA).")
        human.append("")
        if expired {
            human.append("Your message could not be delivered in time and has been given up.")
        } else {
            human.append("Your message could not be delivered to the following recipients.")
        }
        if redirected {
            human.append("(This notice was sent to the administrator; the sender was <\(originalSender)>.)")
        }
        human.append("")
        for recipient in originalRecipients { human.append("  <\(recipient)>") }
        human.append("")
        human.append("Reason: \(cleanReason)")
        human.append("Status: \(status)")
        human.append("Queue ID: \(queueID)")
        if let requestId { human.append("Graph request-id: \(UntrustedText.oneLine(requestId, limit: 200))") }
        human.append("")
        human.append("The headers of your message are attached.")
        let humanText = human.joined(separator: "\r\n")
        out.append("--\(boundary)")
        out.append("Content-Description: Notification")
        out.append("Content-Type: text/plain; charset=utf-8")
        out.append("Content-Transfer-Encoding: \(Self.isASCII(humanText) ? "7bit" : "8bit")")
        out.append("")
        out.append(humanText)
        out.append("")

        // 2. For machines.
        out.append("--\(boundary)")
        out.append("Content-Description: Delivery report")
        out.append("Content-Type: message/\(international ? "global-delivery-status" : "delivery-status")")
        out.append("")
        out.append("Reporting-MTA: dns; \(Self.ascii(reportingMTA, limit: 200))")
        out.append("X-Graph-Relay-Queue-ID: \(queueID)")
        if let requestId { out.append("X-Graph-Request-ID: \(Self.ascii(requestId, limit: 200))") }
        out.append("Arrival-Date: \(Self.rfc5322Date(arrivalDate))")
        for recipient in originalRecipients {
            out.append("")
            if Self.isASCII(recipient) {
                out.append("Final-Recipient: rfc822; \(UntrustedText.oneLine(recipient, limit: 900))")
            } else {
                out.append("Final-Recipient: utf-8; \(UntrustedText.oneLine(recipient, limit: 900))")
            }
            out.append("Action: failed")
            out.append("Status: \(Self.ascii(status, limit: 20))")
            out.append("Diagnostic-Code: smtp; \(Self.smtpCode(for: status)) \(Self.ascii(status, limit: 20)) \(Self.ascii(cleanReason, limit: 900))")
            out.append("Last-Attempt-Date: \(Self.rfc5322Date(date))")
        }
        out.append("")

        // 3. The original headers.
        out.append("--\(boundary)")
        out.append("Content-Description: Undelivered Message Headers")
        out.append("Content-Type: \(eightBitHeaders ? "message/global-headers" : "text/rfc822-headers")")
        out.append("")
        var bytes = Array(out.joined(separator: "\r\n").utf8) + Array("\r\n".utf8)
        bytes += headers
        bytes += Array("\r\n--\(boundary)--\r\n".utf8)
        return bytes
    }

    /// The basic SMTP code that goes with an enhanced status.
    static func smtpCode(for status: String) -> Int {
        let parts = status.split(separator: ".")
        guard parts.count == 3, let klass = Int(parts[0]) else { return 550 }
        if klass == 4 { return 451 }
        switch (parts[1], parts[2]) {
        case ("3", "4"): return 552
        case ("6", _): return 554
        case ("1", _), ("7", _): return 550
        default: return 554
        }
    }

    /// The header block with CRLF line ends, ending in CRLF, at most 256 KiB of it.
    static func normalisedHeaders(_ bytes: [UInt8]) -> [UInt8] {
        let block = bytes.prefix(MessageHeaders.headerLength(of: bytes)).prefix(256 * 1024)
        var out: [UInt8] = []
        out.reserveCapacity(block.count + 64)
        var previous: UInt8 = 0
        for byte in block {
            if byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r") { out.append(UInt8(ascii: "\r")) }
            out.append(byte)
            previous = byte
        }
        if !out.isEmpty && out.last != UInt8(ascii: "\n") { out += Array("\r\n".utf8) }
        return out
    }

    static func isASCII(_ string: String) -> Bool { string.utf8.allSatisfy { $0 < 0x80 } }

    /// ASCII only (others become `?`), one line.
    static func ascii(_ string: String, limit: Int) -> String {
        String(String.UnicodeScalarView(UntrustedText.oneLine(string, limit: limit).unicodeScalars.map { $0.isASCII ? $0 : "?" }))
    }

    /// `Mon, 24 Nov 2025 23:04:05 +0000`.
    package static func rfc5322Date(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(parts.tm_mday) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}
