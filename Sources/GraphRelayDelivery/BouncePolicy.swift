import GraphRelayMIME
import GraphRelaySpool

/// Whether and to whom a delivery status notification goes (the `bounces` configuration).
///
/// Never for the null sender `<>`, never for a message that is itself automatic or a report
/// (`Auto-Submitted:` other than `no`, `Content-Type: multipart/report`): no bounce loops. Bounces
/// can be turned off, or all sent to an administrator instead of the envelope sender.
public struct BouncePolicy: Sendable, Equatable {
    /// Send notifications at all. Default true.
    public var enabled: Bool = true
    /// Send every notification here instead of to the envelope sender. Default nil.
    public var adminAddress: String?

    public init(enabled: Bool = true, adminAddress: String? = nil) {
        self.enabled = enabled
        self.adminAddress = adminAddress
    }

    public enum Decision: Sendable, Equatable {
        /// Send a notification to this address.
        case send(to: String)
        /// Send none, for this reason (recorded in the failed message's metadata).
        case suppress(reason: String)
    }

    /// Decides for a failed message with envelope sender `sender` and header block `headers`.
    public func decide(sender: String, headers: MessageHeaders) -> Decision {
        let trimmed = sender.trimmingWhitespace()
        if trimmed.isEmpty || trimmed == "<>" {
            return .suppress(reason: "the message has the null sender <> (it is a notification itself)")
        }
        if let autoSubmitted = headers.value(of: "Auto-Submitted"),
            autoSubmitted.split(separator: ";").first.map({ String($0).trimmingWhitespace().lowercased() }) != "no"
        {
            return .suppress(reason: "the message is automatic (Auto-Submitted: \(autoSubmitted))")
        }
        if let contentType = headers.value(of: "Content-Type"),
            contentType.lowercased().trimmingWhitespace().hasPrefix("multipart/report")
        {
            return .suppress(reason: "the message is a report (Content-Type: multipart/report)")
        }
        guard enabled else {
            return .suppress(reason: "bounces are disabled")
        }
        if let admin = adminAddress?.trimmingWhitespace(), !admin.isEmpty {
            return .send(to: admin)
        }
        return .send(to: trimmed)
    }
}
