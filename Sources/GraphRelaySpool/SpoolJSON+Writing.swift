import Foundation
import GraphRelayMIME

extension SpoolJSON {
    /// The record as JSON, written field by field into one byte buffer: the same object (sorted
    /// keys, two-space indentation, absent optionals left out, dates as ``formatDate(_:)`` writes
    /// them) that `JSONEncoder` produced for it, at a fraction of the cost — a record is written
    /// at every commit, on the path to the `250`. `SpoolJSONTests` holds the two to the same object.
    static func write(_ record: SpoolRecord) -> [UInt8] {
        var json = Writer()
        json.open("{")
        // In key order.
        json.field("ambiguousAttempts", number: record.ambiguousAttempts)
        json.field("attempts", number: record.attempts)
        json.open("attributes", "{")
        for (key, value) in record.attributes.sorted(by: { $0.key < $1.key }) {
            json.field(key, value)
        }
        json.close("}")
        json.field("bounceId", record.bounceId?.rawValue)
        json.field("bounceSuppressed", record.bounceSuppressed)
        if let checksum = record.checksum { json.field("checksum", number: checksum) }
        if let draft = record.draft {
            json.open("draft", "{")
            json.field("format", draft.format)
            json.field("id", draft.id)
            json.field("mailbox", draft.mailbox)
            json.field("stage", draft.stage.rawValue)
            json.field("updatedAt", date: draft.updatedAt)
            json.close("}")
        }
        json.field("failedAt", date: record.failedAt)
        json.field("failureReason", record.failureReason)
        json.field("failureStatus", record.failureStatus)
        json.field("id", record.id.rawValue)
        json.field("lastAttemptAt", date: record.lastAttemptAt)
        json.field("lastError", record.lastError)
        json.field("lastRequestId", record.lastRequestId)
        json.field("lifetimeStartedAt", date: record.lifetimeStartedAt)
        json.field("messageId", record.messageId)
        json.field("nextAttemptAt", date: record.nextAttemptAt)
        json.field("receivedAt", date: record.receivedAt)
        json.open("recipients", "[")
        for recipient in record.recipients {
            json.item(recipient)
        }
        json.close("]")
        json.open("route", "{")
        json.field("application", record.route.application)
        json.field("mailbox", record.route.mailbox)
        json.field("rewriteFrom", literal: record.route.rewriteFrom ? "true" : "false")
        json.close("}")
        json.field("sender", record.sender)
        json.field("size", number: record.size)
        json.field("state", record.state.rawValue)
        json.field("transientFailures", number: record.transientFailures)
        json.field("version", number: record.version)
        json.close("}")
        json.bytes.append(UInt8(ascii: "\n"))
        return json.bytes
    }

    /// Pretty-printed JSON into bytes, `JSONEncoder`'s layout: `"key" : value`, two spaces per
    /// level, `{}` / `[]` when empty. A nil value leaves its member out.
    private struct Writer {
        var bytes: [UInt8] = []
        /// Per open container: whether it has a member yet.
        private var filled: [Bool] = []

        init() {
            bytes.reserveCapacity(1024)
        }

        mutating func open(_ bracket: StaticString) {
            append(bracket)
            filled.append(false)
        }

        mutating func open(_ key: String, _ bracket: StaticString) {
            member(key)
            open(bracket)
        }

        mutating func close(_ bracket: StaticString) {
            if filled.removeLast() {
                bytes.append(UInt8(ascii: "\n"))
                indent(filled.count)
            }
            append(bracket)
        }

        mutating func field(_ key: String, _ value: String?) {
            guard let value else { return }
            member(key)
            appendQuoted(value)
        }

        mutating func field(_ key: String, date value: Date?) {
            guard let value else { return }
            field(key, formatDate(value))
        }

        mutating func field(_ key: String, number value: some BinaryInteger) {
            member(key)
            bytes.append(contentsOf: String(value).utf8)
        }

        mutating func field(_ key: String, literal text: StaticString) {
            member(key)
            append(text)
        }

        /// An array element.
        mutating func item(_ value: String) {
            separate()
            appendQuoted(value)
        }

        private mutating func member(_ key: String) {
            separate()
            appendQuoted(key)
            append(" : ")
        }

        /// The comma after the previous member, a line break and the indentation.
        private mutating func separate() {
            if filled[filled.count - 1] { bytes.append(UInt8(ascii: ",")) }
            filled[filled.count - 1] = true
            bytes.append(UInt8(ascii: "\n"))
            indent(filled.count)
        }

        private mutating func indent(_ depth: Int) {
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
        }

        private mutating func append(_ text: StaticString) {
            text.withUTF8Buffer { bytes.append(contentsOf: $0) }
        }

        private mutating func appendQuoted(_ text: String) {
            JSONString.appendQuoted(text, to: &bytes)
        }
    }
}
