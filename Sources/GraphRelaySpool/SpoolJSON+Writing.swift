import Foundation
import GraphRelayMIME

extension SpoolJSON {
    /// The record as JSON, written field by field: the same object (sorted keys, two-space
    /// indentation, absent optionals left out, dates as ``formatDate(_:)`` writes them) that
    /// `JSONEncoder` produced for it, at a fraction of the cost — a record is written at every
    /// commit, on the path to the `250`. `SpoolJSONTests` holds the two to the same object.
    static func write(_ record: SpoolRecord) -> [UInt8] {
        var fields: [(String, String)] = []
        fields.reserveCapacity(24)
        func string(_ key: String, _ value: String?) {
            if let value { fields.append((key, JSONString.quote(value))) }
        }
        func date(_ key: String, _ value: Date?) {
            if let value { fields.append((key, "\"" + formatDate(value) + "\"")) }
        }
        // In key order.
        fields.append(("ambiguousAttempts", String(record.ambiguousAttempts)))
        fields.append(("attempts", String(record.attempts)))
        fields.append(("attributes", object(record.attributes.sorted { $0.key < $1.key }.map { ($0.key, JSONString.quote($0.value)) }, indent: 1)))
        string("bounceId", record.bounceId?.rawValue)
        string("bounceSuppressed", record.bounceSuppressed)
        if let draft = record.draft {
            var draftFields: [(String, String)] = [("format", JSONString.quote(draft.format))]
            if let id = draft.id { draftFields.append(("id", JSONString.quote(id))) }
            draftFields.append(("mailbox", JSONString.quote(draft.mailbox)))
            draftFields.append(("stage", JSONString.quote(draft.stage.rawValue)))
            draftFields.append(("updatedAt", "\"" + formatDate(draft.updatedAt) + "\""))
            fields.append(("draft", object(draftFields, indent: 1)))
        }
        date("failedAt", record.failedAt)
        string("failureReason", record.failureReason)
        string("failureStatus", record.failureStatus)
        string("id", record.id.rawValue)
        date("lastAttemptAt", record.lastAttemptAt)
        string("lastError", record.lastError)
        string("lastRequestId", record.lastRequestId)
        date("lifetimeStartedAt", record.lifetimeStartedAt)
        string("messageId", record.messageId)
        date("nextAttemptAt", record.nextAttemptAt)
        date("receivedAt", record.receivedAt)
        fields.append(("recipients", array(record.recipients.map(JSONString.quote), indent: 1)))
        fields.append(("route", object([
            ("application", JSONString.quote(record.route.application)),
            ("mailbox", JSONString.quote(record.route.mailbox)),
            ("rewriteFrom", record.route.rewriteFrom ? "true" : "false"),
        ], indent: 1)))
        string("sender", record.sender)
        fields.append(("size", String(record.size)))
        string("state", record.state.rawValue)
        fields.append(("transientFailures", String(record.transientFailures)))
        fields.append(("version", String(record.version)))
        return Array((object(fields, indent: 0) + "\n").utf8)
    }

    /// `{ "key" : value, … }` over lines, `indent` levels of two spaces deep; `{}` when empty.
    private static func object(_ fields: [(String, String)], indent: Int) -> String {
        guard !fields.isEmpty else { return "{}" }
        let inner = String(repeating: "  ", count: indent + 1)
        var text = "{\n"
        for (index, (key, value)) in fields.enumerated() {
            text += inner
            JSONString.appendQuoted(key, to: &text)
            text += " : "
            text += value
            text += index < fields.count - 1 ? ",\n" : "\n"
        }
        return text + String(repeating: "  ", count: indent) + "}"
    }

    /// `[ value, … ]` over lines; `[]` when empty.
    private static func array(_ values: [String], indent: Int) -> String {
        guard !values.isEmpty else { return "[]" }
        let inner = String(repeating: "  ", count: indent + 1)
        var text = "[\n"
        for (index, value) in values.enumerated() {
            text += inner + value + (index < values.count - 1 ? ",\n" : "\n")
        }
        return text + String(repeating: "  ", count: indent) + "]"
    }
}
