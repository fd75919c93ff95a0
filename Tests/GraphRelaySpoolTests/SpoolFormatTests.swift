import Foundation
import GraphRelaySpoolTestSupport
import NIOCore
import Testing

@testable import GraphRelaySpool

/// Messages as spools before format 2 wrote them: the message bytes alone in `<id>.eml`, the
/// metadata (version 1) in a synced `<id>.json`.
enum SpoolFormat1 {
    @discardableResult
    static func write(_ directory: String, _ bytes: [UInt8], area: String = "queue", json: Bool = true,
                      extra: [UInt8] = []) throws -> SpoolRecord {
        let id = QueueID.make()
        var record = SpoolRecord(id: id, envelope: envelope(), size: Int64(bytes.count), messageId: nil)
        record.version = 1
        try Data(bytes + extra).write(to: URL(fileURLWithPath: "\(directory)/\(area)/\(id).eml"))
        if json {
            try Data(try SpoolJSON.encode(record)).write(to: URL(fileURLWithPath: "\(directory)/\(area)/\(id).json"))
        }
        return record
    }
}

/// Format 2: one file holds the message and, after it, its metadata as committed, so that one
/// fdatasync makes both durable; a `.json` appears only when the metadata changes. Format 1
/// spools are read as before.
@Suite("Spool format 2, and format 1 spools")
struct SpoolFormatTests {
    private func bytes(_ directory: TemporaryDirectory, _ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/\(relative)")))
    }

    @Test("one file holds the message, then its metadata; readers get exactly the message, also from a reused spare")
    func messageThenTrailer() async throws {
        try await withSpool { spool, directory in
            // A large message delivered leaves spares behind; the next, smaller one reuses one.
            let large = try await spoolMessage(spool, sampleMessage(seed: 1, size: 200_000))
            _ = try await spool.beginDelivery(large.id)
            try await spool.recordAttempt(large.id, .delivered(requestId: "r"))
            #expect(directory.files("tmp").count == 1, "the delivered message's file is a spare")

            let message = sampleMessage(seed: 2, size: 5_000)
            let record = try await spoolMessage(spool, message)
            // Format 3: format 2 with the message bytes' CRC-32C in the record.
            #expect(record.version == 3 && record.checksum == CRC32C(message).value)
            let file = try bytes(directory, "queue/\(record.id).eml")
            #expect(Array(file.prefix(message.count)) == message)
            let json = try SpoolJSON.encode(record)
            #expect(Array(file.dropFirst(message.count)) == json + SpoolTrailer.footer(jsonLength: json.count))
            #expect(String(decoding: file.suffix(SpoolTrailer.footerLength), as: UTF8.self)
                == "graph-relay-record v2 \(String(repeating: "0", count: 10 - String(json.count).count))\(json.count)\n")
            #expect(try SpoolTrailer.read("\(directory.path)/queue/\(record.id).eml", id: record.id, fileSize: Int64(file.count)) == record)
            #expect(directory.files("queue") == ["\(record.id).eml"], "no metadata file until the metadata changes")

            #expect(try await readAll(spool.message(record.id)) == message)
            let delivering = try await spool.beginDelivery(record.id)
            #expect(delivering.contents.map { Array($0.readableBytesView) } == message, "the preloaded contents")
            #expect(Array(try await delivering.read(at: 4_990, length: 100).readableBytesView) == Array(message.suffix(10)))
        }
    }

    @Test("the trailer is the metadata until it changes: tooling, recovery and updates")
    func trailerUntilUpdated() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try Spool(directory: directory.path, logger: quietLogger)
        var records: [SpoolRecord] = []
        for seed in 10..<13 {
            records.append(try await spoolMessage(spool!, sampleMessage(seed: seed, size: 3_000 + seed)))
        }
        #expect(try await spool!.count(.queue) == 3)
        _ = try await spool!.beginDelivery(records[1].id)
        let updated = try #require(try await spool!.recordAttempt(records[1].id, .deferred(
            nextAttemptAt: Date(timeIntervalSince1970: 2_000_000_000), error: "503", requestId: "r1", transientFailure: true, ambiguous: false)))
        #expect(directory.files("queue").filter { $0.hasSuffix(".json") } == ["\(records[1].id).json"])
        #expect(try bytes(directory, "queue/\(records[1].id).json") == SpoolJSON.encode(updated))
        await spool!.close()
        spool = nil

        // Queue tooling beside a server, and a server's recovery, read the same.
        let tool = try Spool(directory: directory.path, mode: .tool, logger: quietLogger)
        #expect(try await tool.list() == [records[0], updated, records[2]])
        await tool.close()
        let reopened = try Spool(directory: directory.path, logger: quietLogger)
        #expect(reopened.recoveryReport.queued == 3)
        #expect(reopened.recoveryReport.corrupt.isEmpty && reopened.recoveryReport.removedIncompleteFiles == 0)
        #expect(try await reopened.list() == [records[0], updated, records[2]])
        for (index, record) in records.enumerated() {
            #expect(try await readAll(reopened.message(record.id)) == sampleMessage(seed: 10 + index, size: 3_000 + 10 + index))
            let trailer = try SpoolTrailer.read("\(directory.path)/queue/\(record.id).eml", id: record.id,
                                                fileSize: Int64(try bytes(directory, "queue/\(record.id).eml").count))
            #expect(trailer == record, "the trailer stays as committed")
        }
        // Delivered: the message file goes first, then its metadata file, both into spares.
        _ = try await reopened.beginDelivery(records[1].id)
        try await reopened.recordAttempt(records[1].id, .delivered(requestId: "r2"))
        #expect(directory.files("queue").count == 2)
        #expect(directory.files("tmp").sorted() == ["\(records[1].id).eml.spare", "\(records[1].id).json.spare"],
                "its metadata file too, since it had one")
        await reopened.close()
    }

    @Test("format 1 messages are recovered, read, updated and delivered as before; lone or mis-sized ones are not")
    func format1() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try await Spool(directory: directory.path, logger: quietLogger).close()
        let message = sampleMessage(seed: 20, size: 4_000)
        let old = try SpoolFormat1.write(directory.path, message)
        let longer = try SpoolFormat1.write(directory.path, sampleMessage(seed: 21, size: 1_000), extra: Array("xyz".utf8))
        let lone = try SpoolFormat1.write(directory.path, sampleMessage(seed: 22, size: 1_000), json: false)

        let spool = try Spool(directory: directory.path, logger: quietLogger)
        #expect(spool.recoveryReport.queued == 1)
        #expect(spool.recoveryReport.corrupt == [longer.id])
        #expect(spool.recoveryReport.removedIncompleteFiles == 1)
        #expect(!directory.files("queue").contains("\(lone.id).eml"))
        #expect(try await spool.list() == [old])
        #expect(try await readAll(spool.message(old.id)) == message)

        let attempt = try await spool.beginDelivery(old.id)
        #expect(attempt.contents.map { Array($0.readableBytesView) } == message)
        let deferred = try await spool.recordAttempt(old.id, .deferred(nextAttemptAt: Date(), error: "503", requestId: nil,
                                                                       transientFailure: true, ambiguous: false))
        #expect(deferred?.version == 1 && deferred?.attempts == 1)
        #expect(try await spool.list().first?.transientFailures == 1)
        _ = try await spool.beginDelivery(old.id)
        try await spool.recordAttempt(old.id, .delivered(requestId: "r"))
        #expect(try await spool.list().isEmpty)
        #expect(directory.files("queue").isEmpty)
        await spool.close()
    }
}
