import NIOConcurrencyHelpers
import Foundation

/// Everything the emulator remembers, behind one lock: issued tokens, accepted messages, queued
/// faults, counters and the sendMail concurrency per mailbox.
final class GraphEmulatorState: Sendable {
    struct IssuedToken {
        var clientID: String
        var tenantID: String
        var expiresAt: Date
    }

    struct Values {
        var tokens: [String: IssuedToken] = [:]
        var messages: [GraphEmulatorMessage] = []
        var faults: [(fault: GraphEmulatorFault, operation: GraphEmulatorOperation, mailbox: String?)] = []
        var drafts: [String: GraphEmulatorDraft] = [:]
        var uploadSessions: [String: GraphEmulatorUploadSession] = [:]
        var operationCounts: [GraphEmulatorOperation: Int] = [:]
        var operationTimes: [GraphEmulatorOperation: [Date]] = [:]
        /// Request body bytes per application and mailbox, for ``GraphEmulatorConfiguration/uploadLimit``.
        var uploads: [String: [(at: Date, bytes: Int)]] = [:]
        var tokenFaults: [GraphEmulatorTokenFault] = []
        var tokenRequests = 0
        var tokensIssued = 0
        var sendMailRequests = 0
        var activeSendMail: [String: Int] = [:]
        var maxActiveSendMail: [String: Int] = [:]
        var usedAssertionIDs: Set<String> = []
        var connectionsAccepted = 0
    }

    let values = NIOLockedValueBox(Values())

    func withValues<Result>(_ body: (inout Values) -> Result) -> Result {
        values.withLockedValue(body)
    }

    /// Counts the request and takes the first queued fault for `operation` that applies to `mailbox`.
    func begin(_ operation: GraphEmulatorOperation, mailbox: String?) -> GraphEmulatorFault? {
        values.withLockedValue { values in
            values.operationCounts[operation, default: 0] += 1
            values.operationTimes[operation, default: []].append(Date())
            guard let index = values.faults.firstIndex(where: { entry in
                entry.operation == operation && (entry.mailbox == nil || entry.mailbox?.lowercased() == mailbox?.lowercased())
            }) else { return nil }
            return values.faults.remove(at: index).fault
        }
    }

    func takeTokenFault() -> GraphEmulatorTokenFault? {
        values.withLockedValue { values in
            values.tokenFaults.isEmpty ? nil : values.tokenFaults.removeFirst()
        }
    }

    func sendMailStarted(mailbox: String) {
        values.withLockedValue { values in
            let key = mailbox.lowercased()
            values.sendMailRequests += 1
            let active = (values.activeSendMail[key] ?? 0) + 1
            values.activeSendMail[key] = active
            values.maxActiveSendMail[key] = max(values.maxActiveSendMail[key] ?? 0, active)
        }
    }

    func sendMailEnded(mailbox: String) {
        values.withLockedValue { values in
            let key = mailbox.lowercased()
            values.activeSendMail[key] = max((values.activeSendMail[key] ?? 1) - 1, 0)
        }
    }
}
