import Foundation
import Testing
@testable import GraphRelaySpool

@Suite("Spool metadata JSON")
struct SpoolJSONTests {
    /// What `JSONEncoder` wrote for a record before the writer existed (and what older versions
    /// still write): the reference the writer is held to.
    static func encoderOutput(_ record: SpoolRecord) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(SpoolJSON.formatDate(date))
        }
        return try encoder.encode(record)
    }

    static func object(_ data: Data) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: data) as? NSDictionary)
    }

    static var minimal: SpoolRecord {
        SpoolRecord(
            id: QueueID.make(), envelope: SpoolEnvelope(sender: "", recipients: [], route: SpoolRoute(application: "a", mailbox: "m@example.com")),
            size: 0, messageId: nil)
    }

    static var full: SpoolRecord {
        let tricky = "quote \" backslash \\ slash / tab \t cr \r lf \n nul \u{0} esc \u{1B} del \u{7F} jörg 日本 \u{202E} 😀"
        var record = SpoolRecord(
            id: QueueID.make(),
            envelope: SpoolEnvelope(
                sender: "scanner@contoso.com", recipients: ["a@example.com", tricky, "c@example.com"],
                route: SpoolRoute(application: "contoso \"app\"", mailbox: "relay@contoso.com", rewriteFrom: true),
                receivedAt: SpoolJSON.stored(Date(timeIntervalSince1970: 1_796_500_000.123)), attributes: ["smtp.client": "192.0.2.7", "z": tricky, "a": ""]),
            size: 40 * 1024 * 1024, messageId: "<\(tricky)@host>")
        record.state = .failed
        record.attempts = 7
        record.transientFailures = 5
        record.ambiguousAttempts = 1
        record.nextAttemptAt = SpoolJSON.stored(Date(timeIntervalSince1970: 1_796_503_600.5))
        record.lastAttemptAt = SpoolJSON.stored(Date(timeIntervalSince1970: 1_796_503_000))
        record.lastError = tricky
        record.lastRequestId = "0f9e-11"
        record.failedAt = SpoolJSON.stored(Date(timeIntervalSince1970: 1_796_504_000.999))
        record.failureReason = "550 5.7.1 \(tricky)"
        record.failureStatus = "5.7.1"
        record.bounceId = QueueID.make()
        record.bounceSuppressed = "null sender"
        record.draft = SpoolDraft(stage: .sending, id: "AAMk\(tricky)", mailbox: "relay@contoso.com", format: "mime",
                                  updatedAt: SpoolJSON.stored(Date(timeIntervalSince1970: 1_796_503_100.25)))
        return record
    }

    @Test("the writer and JSONEncoder give the same object, for a minimal and a full record", arguments: [minimal, full])
    func sameObject(record: SpoolRecord) throws {
        let written = SpoolJSON.write(record)
        #expect(try Self.object(Data(written)) == Self.object(Self.encoderOutput(record)), "\(String(decoding: written, as: UTF8.self))")
        #expect(written.last == UInt8(ascii: "\n"))
    }

    @Test("what the writer wrote reads back as the same record", arguments: [minimal, full])
    func roundTrip(record: SpoolRecord) throws {
        #expect(try SpoolJSON.decode(SpoolJSON.write(record), path: "test") == record)
    }

    @Test("keys in sorted order and one control character nowhere raw, so the file stays readable")
    func readable() throws {
        let text = String(decoding: SpoolJSON.write(Self.full), as: UTF8.self)
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.dropFirst(3).prefix { $0 != "\"" } }
        #expect(keys == keys.sorted() && keys.count == 24, "\(keys)")
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
    }
}
