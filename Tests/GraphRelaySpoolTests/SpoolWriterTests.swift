import Foundation
import GraphRelaySpoolTestSupport
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import GraphRelaySpool

@Suite("Spool writer")
struct SpoolWriterTests {
    @Test("a committed message is in queue/ as one .eml, byte for byte, with its metadata after it")
    func commitWritesMessageAndMetadata() async throws {
        try await withSpool { spool, directory in
            let bytes = sampleMessage(seed: 1, size: 5000)
            let received = Date(timeIntervalSince1970: 1_750_000_000.25)
            let record = try await spoolMessage(spool, bytes, envelope: envelope(recipients: ["a@contoso.com", "b@contoso.com"], receivedAt: received))

            #expect(directory.files("queue") == ["\(record.id).eml"])
            #expect(directory.files("tmp").isEmpty)
            let onDisk = try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/queue/\(record.id).eml"))
            let json = try SpoolJSON.encode(record)
            #expect(Array(onDisk) == bytes + json + SpoolTrailer.footer(jsonLength: json.count), "the message, then its metadata")

            #expect(record.size == Int64(bytes.count))
            #expect(record.messageId == "<scan-1@printer.local>")
            #expect(record.state == .queued)
            #expect(record.attempts == 0)
            #expect(record.nextAttemptAt == received)
            #expect(record.recipients == ["a@contoso.com", "b@contoso.com"])

            // The metadata is plain JSON a person (or jq) can read: `tail -c` of the file.
            let sidecar = try JSONSerialization.jsonObject(with: Data(json)) as! [String: Any]
            #expect(sidecar["id"] as? String == record.id.rawValue)
            #expect(sidecar["sender"] as? String == "scanner@printer.local")
            #expect(sidecar["state"] as? String == "queued")
            #expect(sidecar["receivedAt"] as? String == "2025-06-15T15:06:40.250Z")
            #expect((sidecar["route"] as? [String: Any])?["mailbox"] as? String == "noreply@contoso.com")
            #expect((sidecar["route"] as? [String: Any])?["rewriteFrom"] as? Bool == true)
            #expect(sidecar["size"] as? Int == 5000)

            let listed = try await spool.list()
            #expect(listed == [record])
        }
    }

    @Test("reading back streams chunks and gives the header block cheaply")
    func readBack() async throws {
        var configuration = SpoolConfiguration()
        configuration.readChunkSize = 1000
        try await withSpool(configuration: configuration) { spool, _ in
            let bytes = sampleMessage(seed: 2, size: 300_000)
            let record = try await spoolMessage(spool, bytes, chunk: 7000)
            let message = try await spool.message(record.id)
            var chunks = 0
            var all: [UInt8] = []
            for try await chunk in message.bodyChunks() {
                #expect(chunk.readableBytes <= 1000)
                chunks += 1
                all += chunk.readableBytesView
            }
            #expect(all == bytes)
            #expect(chunks == 300)

            let header = try await message.readHeaderBlock()
            let text = String(buffer: header)
            #expect(text.hasPrefix("Received: from printer"))
            #expect(text.hasSuffix("Message-ID: <scan-2@printer.local>\r\n"))
            #expect(!text.contains("\r\n\r\n"))
        }
    }

    @Test("a large message is written while it streams, not held until commit")
    func largeMessageStreamsToDisk() async throws {
        var configuration = SpoolConfiguration()
        configuration.writeBufferSize = 16 * 1024
        configuration.maxPendingWriteBytes = 64 * 1024
        try await withSpool(configuration: configuration) { spool, directory in
            let writer = try spool.makeWriter()
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 8192)
            for _ in 0..<256 {  // 2 MiB
                try await writer.append(ByteBuffer(bytes: chunk))
            }
            // Before commit, the bytes are already in tmp/ (at most the buffer is in memory).
            let appended = await eventually {
                let size = (try? FileManager.default.attributesOfItem(atPath: "\(directory.path)/tmp/\(writer.id).eml")[.size] as? Int) ?? 0
                return size >= 2 * 1024 * 1024 - 64 * 1024
            }
            #expect(appended)
            #expect(directory.files("queue").isEmpty)
            let record = try await writer.commit(envelope())
            #expect(record.size == 2 * 1024 * 1024)
            #expect(directory.files("tmp").isEmpty)
        }
    }

    @Test("abort removes everything; a dropped writer too")
    func abortLeavesNothing() async throws {
        var configuration = SpoolConfiguration()
        configuration.writeBufferSize = 1024
        try await withSpool(configuration: configuration) { spool, directory in
            let writer = try spool.makeWriter()
            try await writer.append(ByteBuffer(bytes: sampleMessage(seed: 3, size: 50_000)))
            await writer.abort()
            await writer.abort()  // idempotent
            #expect(directory.files("tmp").isEmpty)
            #expect(directory.files("queue").isEmpty)
            await #expect(throws: SpoolError.writerFinished(writer.id)) {
                try await writer.append(ByteBuffer(string: "more"))
            }
            await #expect(throws: SpoolError.writerFinished(writer.id)) {
                try await writer.commit(envelope())
            }

            var dropped: SpoolWriter? = try spool.makeWriter()
            try await dropped!.append(ByteBuffer(bytes: sampleMessage(seed: 4, size: 50_000)))
            let droppedID = dropped!.id
            _ = await eventually { directory.files("tmp").contains("\(droppedID).eml") }
            dropped = nil
            #expect(await eventually { directory.files("tmp").isEmpty })
            #expect(try await spool.list().isEmpty)
        }
    }

    @Test("commit twice is refused; the first stays")
    func doubleCommit() async throws {
        try await withSpool { spool, _ in
            let writer = try spool.makeWriter()
            try await writer.append(ByteBuffer(bytes: sampleMessage(seed: 5, size: 100)))
            let record = try await writer.commit(envelope())
            await #expect(throws: SpoolError.writerFinished(writer.id)) {
                try await writer.commit(envelope())
            }
            #expect(try await spool.list().map(\.id) == [record.id])
        }
    }

    @Test("an empty message and one without a header end are stored as given")
    func oddMessages() async throws {
        try await withSpool { spool, _ in
            let empty = try spool.makeWriter()
            let emptyRecord = try await empty.commit(envelope())
            #expect(emptyRecord.size == 0)
            #expect(try await readAll(spool.message(emptyRecord.id)).isEmpty)

            let headerOnly = Array("Subject: no body\r\nX-A: b".utf8)
            let record = try await spoolMessage(spool, headerOnly)
            #expect(record.messageId == nil)
            let header = try await spool.message(record.id).readHeaderBlock()
            #expect(Array(header.readableBytesView) == headerOnly)
        }
    }

    @Test("a Message-ID given by the writer's creator is recorded as given (the bytes are not searched)")
    func knownMessageId() async throws {
        try await withSpool { spool, _ in
            let writer = try spool.makeWriter(messageId: "<added-by-relay@relay.test>")
            try await writer.append(ByteBuffer(string: "Subject: no id of its own\r\n\r\nbody\r\n"))
            let record = try await writer.commit(envelope())
            #expect(record.messageId == "<added-by-relay@relay.test>")
            #expect(try await spool.list().first?.messageId == "<added-by-relay@relay.test>")
        }
    }

    @Test("many concurrent commits all land, with unique time-sortable ids, sharing directory fsyncs")
    func concurrentCommits() async throws {
        try await withSpool { spool, _ in
            let count = 40
            let records = try await withThrowingTaskGroup(of: SpoolRecord.self) { group in
                for seed in 0..<count {
                    group.addTask { try await spoolMessage(spool, sampleMessage(seed: seed, size: 2000 + seed)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(records.map(\.id)).count == count)
            let listed = try await spool.list()
            #expect(listed.count == count)
            #expect(listed.map(\.id) == listed.map(\.id).sorted())
            for record in listed {
                let seed = record.size - 2000
                #expect(try await readAll(spool.message(record.id)) == sampleMessage(seed: Int(seed), size: Int(record.size)))
            }
            let stats = spool.queueSyncer.statistics
            #expect(stats.requests == count)
            #expect(stats.syncs >= 1 && stats.syncs <= count)
        }
    }

    @Test("commit observers hear of every commit")
    func observers() async throws {
        try await withSpool { spool, _ in
            let seen = NIOLockedValueBox<[QueueID]>([])
            let token = spool.addCommitObserver { record in seen.withLockedValue { $0.append(record.id) } }
            let first = try await spoolMessage(spool, sampleMessage(seed: 1, size: 100))
            spool.removeCommitObserver(token)
            _ = try await spoolMessage(spool, sampleMessage(seed: 2, size: 100))
            #expect(seen.withLockedValue { $0 } == [first.id])
        }
    }
}

@Suite("Metadata dates")
struct MetadataDateTests {
    @Test("dates are stored as ISO 8601 UTC milliseconds and survive any number of rewrites")
    func stable() throws {
        for _ in 0..<2000 {
            let date = Date(timeIntervalSince1970: Double.random(in: 1_700_000_000...1_900_000_000))
            let once = try #require(SpoolJSON.parseDate(SpoolJSON.formatDate(date)))
            let twice = try #require(SpoolJSON.parseDate(SpoolJSON.formatDate(once)))
            #expect(SpoolJSON.formatDate(once) == SpoolJSON.formatDate(twice))
            #expect(abs(once.timeIntervalSince(date)) <= 0.0005 + 1e-6)
        }
        #expect(SpoolJSON.formatDate(Date(timeIntervalSince1970: 1_750_000_000.25)) == "2025-06-15T15:06:40.250Z")
        #expect(SpoolJSON.formatDate(Date(timeIntervalSince1970: 0.9996)) == "1970-01-01T00:00:01.000Z")
        #expect(SpoolJSON.parseDate("2025-06-15T15:06:40Z") == Date(timeIntervalSince1970: 1_750_000_000))
        #expect(SpoolJSON.parseDate("yesterday") == nil)
    }

    @Test("the fast parser of the stored form agrees with Foundation's ISO 8601 parser and refuses anything else")
    func fastParserAgrees() throws {
        for _ in 0..<500 {
            let text = SpoolJSON.formatDate(Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000)))
            let fast = try #require(SpoolJSON.parseStoredDate(text))
            let foundation = try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
            #expect(abs(fast.timeIntervalSince(foundation)) < 1e-6, "\(text)")
        }
        for text in ["2025-06-15T15:06:40Z", "2025-06-15 15:06:40.250Z", "2025-13-15T15:06:40.250Z", "2025-06-15T15:06:40.25xZ", ""] {
            #expect(SpoolJSON.parseStoredDate(text) == nil, "\(text)")
        }
    }
}

@Suite("Queue ids")
struct QueueIDTests {
    @Test("ids are 18 safe characters, strictly increasing, and carry their time")
    func shape() {
        let now = Date(timeIntervalSince1970: 1_750_000_000)
        var previous: QueueID?
        for _ in 0..<1000 {
            let id = QueueID.make(now: now)  // same instant: still increasing
            #expect(id.rawValue.count == 18)
            #expect(QueueID(id.rawValue) == id)
            #expect(QueueID(id.rawValue.lowercased()) == id)
            if let previous { #expect(previous < id) }
            previous = id
        }
        let later = QueueID.make(now: Date(timeIntervalSince1970: 1_900_000_000))
        #expect(abs(later.timestamp.timeIntervalSince1970 - 1_900_000_000) < 1)
    }

    @Test("anything else is rejected", arguments: ["", "../../etc/passwd", "0123456789ABCDEFGI", "0123456789ABCDEFG", "0123456789ABCDEFGHJ", "0123456789ABCDEF/H"])
    func rejects(_ text: String) {
        #expect(QueueID(text) == nil)
    }
}
