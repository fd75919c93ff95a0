import Foundation
import GraphRelaySpoolTestSupport
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import GraphRelaySpool

@Suite("Spool file reuse")
struct SpoolFilePoolTests {
    private func deliver(_ spool: Spool, _ id: QueueID) async throws {
        _ = try await spool.beginDelivery(id)
        #expect(try await spool.recordAttempt(id, .delivered(requestId: nil)) == nil)
    }

    private func inode(_ path: String) -> UInt64? {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    @Test("delivered messages' files become spares that new messages overwrite, cut to their own size")
    func reusesDeliveredFiles() async throws {
        try await withSpool { spool, directory in
            let big = try await spoolMessage(spool, sampleMessage(seed: 1, size: 20_000))
            let bigInode = try #require(inode("\(directory.path)/queue/\(big.id).eml"))
            try await deliver(spool, big.id)
            #expect(directory.files("queue").isEmpty)
            #expect(directory.files("tmp").sorted() == ["\(big.id).eml.spare"], "one file per message (format 2)")

            // The next message is smaller than the spare's old content: nothing of it may remain.
            let small = try await spoolMessage(spool, sampleMessage(seed: 2, size: 700))
            #expect(directory.files("tmp").isEmpty)
            #expect(spool.filePool.statistics.reused == 1)
            let emlPath = "\(directory.path)/queue/\(small.id).eml"
            #expect(inode(emlPath) == bigInode)
            let trailer = try SpoolJSON.encode(small).count + SpoolTrailer.footerLength
            #expect(try Posix.fileSize(emlPath) == Int64(700 + trailer), "the message and its trailer, nothing of the old content")
            #expect(try await readAll(spool.message(small.id)) == sampleMessage(seed: 2, size: 700))
            let listed = try await spool.list()
            #expect(listed.map(\.id) == [small.id])
            #expect(listed.first?.size == 700)
        }
    }

    @Test("spares survive a restart and are reused; they are not counted as interrupted writes")
    func sparesSurviveRestart() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try Spool(directory: directory.path, logger: quietLogger)
        var delivered: [QueueID] = []
        for seed in 0..<3 {
            delivered.append(try await spoolMessage(spool!, sampleMessage(seed: seed, size: 1500)).id)
        }
        for id in delivered { try await deliver(spool!, id) }
        let kept = try await spoolMessage(spool!, sampleMessage(seed: 9, size: 4000))
        #expect(directory.files("tmp").count == 2)  // 3 spares, 1 of them reused by `kept`
        await spool!.close()
        spool = nil

        let reopened = try Spool(directory: directory.path, logger: quietLogger)
        #expect(reopened.recoveryReport.removedTemporaryFiles == 0)
        #expect(reopened.recoveryReport.queued == 1)
        #expect(reopened.filePool.statistics.spares == 2)
        let next = try await spoolMessage(reopened, sampleMessage(seed: 10, size: 300))
        #expect(reopened.filePool.statistics.reused == 1)
        #expect(try await readAll(reopened.message(next.id)) == sampleMessage(seed: 10, size: 300))
        #expect(try await readAll(reopened.message(kept.id)) == sampleMessage(seed: 9, size: 4000))
        await reopened.close()
    }

    @Test("beyond the capacity files are deleted; every spare is empty")
    func capacity() async throws {
        var configuration = SpoolConfiguration()
        configuration.recycledFiles = 3
        try await withSpool(configuration: configuration) { spool, directory in
            var ids: [QueueID] = []
            for seed in 0..<4 {
                ids.append(try await spoolMessage(spool, sampleMessage(seed: seed, size: 500)).id)
            }
            let large = try await spoolMessage(spool, sampleMessage(seed: 7, size: 30_000))
            try await deliver(spool, large.id)
            #expect(directory.files("tmp") == ["\(large.id).eml.spare"])
            for id in ids { try await deliver(spool, id) }
            #expect(directory.files("tmp").count == 3)
            #expect(directory.files("queue").isEmpty)
            #expect(spool.filePool.statistics.spares == 3)
            for name in directory.files("tmp") {
                #expect(try Posix.fileSize("\(directory.path)/tmp/\(name)") == 0, "\(name)")
            }
            // An empty spare serves like any other.
            let next = try await spoolMessage(spool, sampleMessage(seed: 8, size: 12_000))
            #expect(try await readAll(spool.message(next.id)) == sampleMessage(seed: 8, size: 12_000))
        }
    }

    @Test("no delivered message's bytes remain anywhere in the spool; files are 0600, directories 0700")
    func deliveredContentDoesNotLinger() async throws {
        try await withSpool { spool, directory in
            var ids: [QueueID] = []
            for index in 0..<6 {
                let marker = "DELIVERED-SECRET-\(index)-" + String(repeating: "x", count: 10 * index)
                let text = "From: a@b.example\r\nSubject: \(marker)\r\n\r\n\(marker)\r\n" + String(repeating: "body line\r\n", count: 500 * index)
                ids.append(try await spoolMessage(spool, Array(text.utf8)).id)
            }
            let kept = try await spoolMessage(spool, Array("From: a@b.example\r\nSubject: QUEUED-STILL\r\n\r\nx\r\n".utf8))
            for id in ids { try await deliver(spool, id) }
            let everything = try directory.allFileContents()
            #expect(!everything.contents.contains { $0.1.contains("DELIVERED-SECRET") }, "\(everything.contents.filter { $0.1.contains("DELIVERED-SECRET") }.map(\.0))")
            #expect(everything.contents.contains { $0.1.contains("QUEUED-STILL") })
            // Envelopes of delivered messages are gone too (their ids no longer appear in any file but the journal's name).
            for (path, mode) in everything.modes {
                #expect(mode & 0o077 == 0, "\(path) has mode \(String(mode, radix: 8))")
            }
            _ = kept
        }
    }

    @Test("a symbolic link planted as a spare is never followed")
    func symlinkNotFollowed() async throws {
        try await withSpool { spool, directory in
            let record = try await spoolMessage(spool, sampleMessage(seed: 1, size: 600))
            try await deliver(spool, record.id)
            let outside = TemporaryDirectory()
            defer { outside.remove() }
            let victim = outside.path + "/victim"
            try Data("untouched".utf8).write(to: URL(fileURLWithPath: victim))
            for name in directory.files("tmp") {
                let path = "\(directory.path)/tmp/\(name)"
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: victim)
            }
            _ = try? await spoolMessage(spool, sampleMessage(seed: 2, size: 300))
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "untouched")
        }
    }

    @Test("reuse off (recycledFiles: 0): delivered messages' files are deleted")
    func reuseOff() async throws {
        var configuration = SpoolConfiguration()
        configuration.recycledFiles = 0
        try await withSpool(configuration: configuration) { spool, directory in
            let record = try await spoolMessage(spool, sampleMessage(seed: 1, size: 500))
            try await deliver(spool, record.id)
            #expect(directory.files("tmp").isEmpty)
            #expect(directory.files("queue").isEmpty)
        }
    }

    @Test("a commit that fails while overwriting a spare leaves nothing behind and loses no other message")
    func failureWhileReusing() async throws {
        let failNext = NIOLockedValueBox(false)
        var configuration = SpoolConfiguration()
        configuration.faults = SpoolFaultInjector { point, _ in
            point == .syncMessage && failNext.withLockedValue { $0 } ? EIO : nil
        }
        try await withSpool(configuration: configuration) { spool, directory in
            let first = try await spoolMessage(spool, sampleMessage(seed: 1, size: 2000))
            let other = try await spoolMessage(spool, sampleMessage(seed: 2, size: 2000))
            try await deliver(spool, first.id)
            failNext.withLockedValue { $0 = true }
            await #expect(throws: SpoolError.self) {
                try await spoolMessage(spool, sampleMessage(seed: 3, size: 900))
            }
            failNext.withLockedValue { $0 = false }
            #expect(try await spool.list().map(\.id) == [other.id])
            #expect(try await readAll(spool.message(other.id)) == sampleMessage(seed: 2, size: 2000))
            // The failed message's file (the spare) is gone; a new one serves the next message.
            #expect(directory.files("tmp").isEmpty)
            let next = try await spoolMessage(spool, sampleMessage(seed: 4, size: 100))
            #expect(try await readAll(spool.message(next.id)) == sampleMessage(seed: 4, size: 100))
        }
    }

    @Test("spares become usable only after the queue directory is fsynced; a failed fsync keeps them out")
    func publishedAfterSync() async throws {
        let failSync = NIOLockedValueBox(false)
        var configuration = SpoolConfiguration()
        configuration.faults = SpoolFaultInjector { point, _ in
            point == .syncDirectory && failSync.withLockedValue { $0 } ? EIO : nil
        }
        try await withSpool(configuration: configuration) { spool, directory in
            let record = try await spoolMessage(spool, sampleMessage(seed: 1, size: 900))
            _ = try await spool.beginDelivery(record.id)
            failSync.withLockedValue { $0 = true }
            await #expect(throws: SpoolError.self) {
                try await spool.recordAttempt(record.id, .delivered(requestId: nil))
            }
            failSync.withLockedValue { $0 = false }
            // The files left the queue, but nobody may overwrite them in this run.
            #expect(directory.files("tmp").count == 1)
            #expect(spool.filePool.statistics.spares == 0)
            let next = try await spoolMessage(spool, sampleMessage(seed: 2, size: 100))
            #expect(spool.filePool.statistics.reused == 0)
            #expect(directory.files("tmp").count == 1)
            #expect(try await readAll(spool.message(next.id)) == sampleMessage(seed: 2, size: 100))
        }
    }

    @Test("at start, a spare that also has another name (left by a file system check) is deleted, not reused")
    func linkedSpareNotAdopted() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try Spool(directory: directory.path, logger: quietLogger)
        var ids: [QueueID] = []
        for seed in 0..<2 { ids.append(try await spoolMessage(spool!, sampleMessage(seed: seed, size: 700)).id) }
        for id in ids { try await deliver(spool!, id) }
        await spool!.close()
        spool = nil
        // Simulate a queue file and a spare sharing an inode.
        let spare = "\(directory.path)/tmp/\(ids[0]).eml.spare"
        let elsewhere = "\(directory.path)/linked-copy"
        #expect(link(spare, elsewhere) == 0)
        let reopened = try Spool(directory: directory.path, logger: quietLogger)
        #expect(reopened.filePool.statistics.spares == 1)
        #expect(!FileManager.default.fileExists(atPath: spare))
        #expect(FileManager.default.fileExists(atPath: elsewhere))
        await reopened.close()
    }

    @Test("a spare removed from tmp/ behind the server's back is created anew, not a failed commit")
    func missingSpare() async throws {
        try await withSpool { spool, directory in
            let record = try await spoolMessage(spool, sampleMessage(seed: 1, size: 600))
            try await deliver(spool, record.id)
            for name in directory.files("tmp") {
                try FileManager.default.removeItem(atPath: "\(directory.path)/tmp/\(name)")
            }
            let next = try await spoolMessage(spool, sampleMessage(seed: 2, size: 300))
            #expect(spool.filePool.statistics.reused == 1)
            #expect(try await readAll(spool.message(next.id)) == sampleMessage(seed: 2, size: 300))
        }
    }
}

@Suite("Spool file reuse: preallocation")
struct SpoolPreallocationTests {
    @Test("a server creates empty spares in the background after it opened the spool; commits write into them; tooling creates none")
    func preallocatesSpares() async throws {
        var configuration = SpoolConfiguration()
        configuration.preallocatedFiles = 40
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try Spool(directory: directory.path, configuration: configuration, logger: quietLogger)
        #expect(await eventually(timeout: 10) { spool!.filePool.statistics.spares == 40 })
        #expect(directory.files("tmp").count == 40)
        for name in directory.files("tmp") {
            let info = try FileManager.default.attributesOfItem(atPath: "\(directory.path)/tmp/\(name)")
            #expect(name.hasSuffix(".eml.spare") && info[.size] as? Int == 0 && (info[.posixPermissions] as? Int ?? 0) & 0o077 == 0, "\(name)")
        }
        let record = try await spoolMessage(spool!, sampleMessage(seed: 1, size: 2000))
        #expect(spool!.filePool.statistics.reused == 1)
        #expect(directory.files("tmp").count == 39, "the message went into a spare, no file was created")
        #expect(try await readAll(spool!.message(record.id)) == sampleMessage(seed: 1, size: 2000))
        await spool!.close()
        spool = nil

        // Reopened: the spares left are adopted, and topped up again.
        let reopened = try Spool(directory: directory.path, configuration: configuration, logger: quietLogger)
        #expect(reopened.recoveryReport.removedTemporaryFiles == 0 && reopened.recoveryReport.queued == 1)
        #expect(await eventually(timeout: 10) { reopened.filePool.statistics.spares == 40 })
        #expect(directory.files("tmp").count == 40)
        await reopened.close()

        let tool = try Spool(directory: directory.path, mode: .tool, configuration: configuration, logger: quietLogger)
        try await Task.sleep(for: .milliseconds(200))
        #expect(directory.files("tmp").count == 40, "queue tooling neither creates nor takes spares")
        await tool.close()
    }

    @Test("preallocation stays within the pool's capacity")
    func withinCapacity() async throws {
        var configuration = SpoolConfiguration()
        configuration.preallocatedFiles = 50
        configuration.recycledFiles = 8
        try await withSpool(configuration: configuration) { spool, directory in
            #expect(await eventually(timeout: 10) { spool.filePool.statistics.spares == 8 })
            try await Task.sleep(for: .milliseconds(100))
            #expect(directory.files("tmp").count == 8)
        }
    }
}
