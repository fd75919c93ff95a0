import Foundation
import GraphRelaySpoolTestSupport
import NIOCore
import Testing

@testable import GraphRelaySpool

@Suite("CRC-32C")
struct CRC32CTests {
    @Test("the standard check value, and any split of the bytes gives the same checksum")
    func values() {
        #expect(CRC32C(Array("123456789".utf8)).value == 0xE306_9283)
        #expect(CRC32C([UInt8]()).value == 0)
        #expect(CRC32C([UInt8](repeating: 0, count: 32)).value == 0x8A91_36AA)
        let bytes = sampleMessage(seed: 7, size: 10_007)
        let whole = CRC32C(bytes).value
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            var crc = CRC32C()
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + Int.random(in: 1...300, using: &generator))
                crc.update(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
            }
            #expect(crc.value == whole)
        }
        var changed = bytes
        changed[5000] ^= 1
        #expect(CRC32C(changed).value != whole)
    }
}

/// Slots: empty message files made ahead in queue/, so that a commit is one fdatasync.
@Suite("Spool slots")
struct SpoolSlotTests {
    static func configuration(slots: Int = 8) -> SpoolConfiguration {
        var configuration = SpoolConfiguration()
        configuration.slots = slots
        return configuration
    }

    private func size(_ directory: TemporaryDirectory, _ relative: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: "\(directory.path)/\(relative)")[.size] as? Int) ?? nil
    }

    @Test("slots are empty files in queue/ that no reader takes for a message; a commit writes into one, in place, with its checksum")
    func commitIntoSlot() async throws {
        try await withSpool(configuration: Self.configuration()) { spool, directory in
            #expect(await eventually { spool.slots.statistics.ready == 8 })
            let slotFiles = directory.files("queue")
            #expect(slotFiles.count == 8)
            #expect(slotFiles.allSatisfy { $0.hasSuffix(".eml") && size(directory, "queue/\($0)") == 0 })
            #expect(try await spool.list(.queue).isEmpty)
            #expect(try await spool.count(.queue) == 0)

            let bytes = sampleMessage(seed: 1, size: 30_000)
            let record = try await spoolMessage(spool, bytes)
            // The message took the oldest slot: its file is that slot, nothing went through tmp/.
            #expect(record.id.rawValue + ".eml" == slotFiles.first)
            #expect(record.version == 3)
            #expect(record.checksum == CRC32C(bytes).value)
            #expect(!directory.files("tmp").contains { $0.hasPrefix(record.id.rawValue) })
            let file = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/queue/\(record.id).eml")))
            #expect(Array(file.prefix(bytes.count)) == bytes)
            #expect(String(decoding: file.suffix(SpoolTrailer.footerLength), as: UTF8.self).hasPrefix("graph-relay-record v2 "))
            #expect(try await spool.list(.queue).map(\.id) == [record.id])
            #expect(try await spool.count(.queue) == 1)
            let message = try await spool.beginDelivery(record.id)
            #expect(try await readAll(message) == bytes)
            // Used slots are made again in the background.
            #expect(await eventually { spool.slots.statistics.ready >= 7 })
        }
    }

    @Test("an aborted message, or one whose commit fails, leaves neither its bytes nor its slot")
    func abortInSlot() async throws {
        try await withSpool(configuration: Self.configuration(slots: 4)) { spool, directory in
            #expect(await eventually { spool.slots.statistics.ready == 4 })
            let writer = try spool.makeWriter()
            try await writer.append(ByteBuffer(bytes: sampleMessage(seed: 2, size: 200_000)))
            await writer.abort()
            #expect(!directory.files("queue").contains(writer.id.rawValue + ".eml"))
            #expect(try await spool.count(.queue) == 0)
        }
    }

    @Test("a slot removed from under the server: that commit fails and leaves nothing; the next message is queued")
    func slotRemoved() async throws {
        try await withSpool(configuration: Self.configuration(slots: 4)) { spool, directory in
            #expect(await eventually { spool.slots.statistics.ready == 4 })
            for name in directory.files("queue") {
                try FileManager.default.removeItem(atPath: "\(directory.path)/queue/\(name)")
            }
            let writer = try spool.makeWriter()
            try await writer.append(ByteBuffer(bytes: sampleMessage(seed: 9, size: 1000)))
            await #expect(throws: SpoolError.self) { try await writer.commit(envelope()) }
            #expect(!directory.files("queue").contains(writer.id.rawValue + ".eml"))
            #expect(try await spool.count(.queue) == 0)
            // The slots left are gone too: each commit into one fails the same way until a
            // refill makes new ones; a message sent again after its 451 is queued.
            var queued: SpoolRecord?
            for seed in 10..<20 where queued == nil {
                queued = try? await spoolMessage(spool, sampleMessage(seed: seed, size: 1000))
            }
            let record = try #require(queued)
            #expect(try await spool.list(.queue).map(\.id) == [record.id])
        }
    }

    @Test("recovery keeps slots, removes a slot write that never finished, and moves one whose bytes do not match their checksum to corrupt/")
    func recovery() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try Spool(directory: directory.path, configuration: Self.configuration(), logger: quietLogger)
        #expect(await eventually { spool!.slots.statistics.ready == 8 })
        let good = try await spoolMessage(spool!, sampleMessage(seed: 3, size: 20_000))
        let torn = try await spoolMessage(spool!, sampleMessage(seed: 4, size: 20_000))
        let updated = try await spoolMessage(spool!, sampleMessage(seed: 5, size: 20_000))
        _ = try await spool!.beginDelivery(updated.id)
        try await spool!.recordAttempt(updated.id, .deferred(nextAttemptAt: Date(), error: "x", requestId: nil, transientFailure: true, ambiguous: false))
        // An unfinished write into a slot: bytes, no trailer.
        let unfinished = try #require(spool!.slots.take())
        try Data(sampleMessage(seed: 6, size: 5000)).write(to: URL(fileURLWithPath: "\(directory.path)/queue/\(unfinished).eml"))
        await spool!.close()
        spool = nil
        // A power loss in the middle of a commit: the trailer reached the disk, a block of the
        // message did not (zeros). The updated message's bytes are not checked again.
        for id in [torn.id, updated.id] {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(directory.path)/queue/\(id).eml"))
            try handle.seek(toOffset: 8192)
            handle.write(Data(repeating: 0, count: 4096))
            try handle.close()
        }
        let slotsBefore = Set(directory.files("queue").filter { size(directory, "queue/\($0)") == 0 })
        #expect(slotsBefore.count >= 4)
        let reopened = try Spool(directory: directory.path, configuration: Self.configuration(), logger: quietLogger)
        let report = reopened.recoveryReport
        #expect(report.corrupt == [torn.id])
        #expect(report.removedIncompleteFiles == 1)
        #expect(report.queued == 2)
        #expect(directory.files("corrupt").contains(torn.id.rawValue + ".eml"))
        #expect(!directory.files("queue").contains(unfinished.rawValue + ".eml"))
        #expect(Set(try await reopened.list(.queue).map(\.id)) == [good.id, updated.id])
        // The slots found are used again (and the pool is topped up).
        #expect(await eventually { reopened.slots.statistics.ready == 8 })
        let next = try await spoolMessage(reopened, sampleMessage(seed: 7, size: 1000))
        #expect(slotsBefore.contains(next.id.rawValue + ".eml"))
        await reopened.close()
    }

    @Test("without slots every commit goes through tmp/ as before")
    func noSlots() async throws {
        try await withSpool(configuration: Self.configuration(slots: 0)) { spool, directory in
            let bytes = sampleMessage(seed: 8, size: 5000)
            let record = try await spoolMessage(spool, bytes)
            #expect(directory.files("queue") == [record.id.rawValue + ".eml"])
            #expect(record.checksum == CRC32C(bytes).value)
            #expect(spool.slots.statistics.taken == 0)
        }
    }
}
