import Foundation
import GraphRelayMIME

extension SpoolRecord {
    /// The columns of `graph-relay queue list`, in order.
    public static let listHeader = ["ID", "AGE", "SENDER", "MAILBOX", "RECIPIENTS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"]

    /// This message as a `queue list` row: id, age, sender (`<>` for the null sender), mailbox,
    /// recipients (comma-separated), attempts, next attempt (or the state), last error.
    public func listColumns(now: Date = Date()) -> [String] {
        let next: String
        switch state {
        case .delivering: next = "delivering"
        case .failed: next = "failed \(failureStatus ?? "")".trimmingWhitespace()
        case .queued: next = nextAttemptAt <= now ? "now" : "in " + Self.age(nextAttemptAt.timeIntervalSince(now))
        }
        return [
            id.rawValue,
            Self.age(now.timeIntervalSince(receivedAt)),
            sender.isEmpty ? "<>" : UntrustedText.escaped(sender),
            route.mailbox,
            UntrustedText.escaped(recipients.joined(separator: ",")),
            String(attempts),
            next,
            UntrustedText.escaped(UntrustedText.oneLine(lastError ?? "", limit: 120)),
        ]
    }

    /// `queue show`: every field, one per line, as `key: value`.
    /// Client-supplied values (addresses, Message-ID, attributes) and Graph's error texts are
    /// escaped (``UntrustedText``): each line stays one line and sends no control characters to
    /// the terminal.
    public func showLines() -> [String] {
        var lines = [
            "id: \(id)",
            "state: \(state.rawValue)",
            "sender: \(sender.isEmpty ? "<>" : UntrustedText.escaped(sender))",
            "recipients: \(UntrustedText.escaped(recipients.joined(separator: ", ")))",
            "route: application=\(route.application) mailbox=\(route.mailbox) rewriteFrom=\(route.rewriteFrom)",
            "received: \(SpoolJSON.formatDate(receivedAt))",
            "size: \(size)",
            "message-id: \(messageId.map(UntrustedText.escaped) ?? "-")",
            "attempts: \(attempts) (transient failures \(transientFailures), ambiguous \(ambiguousAttempts))",
            "next attempt: \(SpoolJSON.formatDate(nextAttemptAt))",
        ]
        if let lastAttemptAt { lines.append("last attempt: \(SpoolJSON.formatDate(lastAttemptAt))") }
        if let lastError { lines.append("last error: \(UntrustedText.escaped(lastError))") }
        if let lastRequestId { lines.append("graph request-id: \(lastRequestId)") }
        if let failedAt { lines.append("failed: \(SpoolJSON.formatDate(failedAt)) \(failureStatus ?? "") \(UntrustedText.escaped(failureReason ?? ""))") }
        if let bounceId { lines.append("bounce: \(bounceId)") }
        if let bounceSuppressed { lines.append("no bounce: \(bounceSuppressed)") }
        if let draft {
            lines.append("draft: \(draft.stage.rawValue) \(draft.format) in \(draft.mailbox)\(draft.id.map { " id=\($0)" } ?? "") (\(SpoolJSON.formatDate(draft.updatedAt)))")
        }
        for key in attributes.keys.sorted() { lines.append("\(UntrustedText.escaped(key)): \(UntrustedText.escaped(attributes[key]!))") }
        return lines
    }

    /// `45s`, `12m`, `3h`, `2d`.
    static func age(_ seconds: TimeInterval) -> String {
        let seconds = max(0, Int(seconds.rounded()))
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86400 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }
}
