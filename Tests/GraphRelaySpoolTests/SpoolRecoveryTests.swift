import Foundation
import GraphRelaySpoolTestSupport
import NIOCore
import Testing

@testable import GraphRelaySpool

@Suite("Spool recovery")
struct SpoolRecoveryTests {
    private func write(_ path: String, _ text: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    @Test("temporary files of interrupted writes are removed; committed messages stay")
    func removesTemporaryFiles() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try Spool(directory: directory.path, logger: quietLogger)
        let kept = try await spoolMessage(spool!, sampleMessage(seed: 1, size: 3000))
        // A crash mid-stream and mid-commit leaves files in tmp/.
        let orphan = QueueID.make()
        write("\(directory.path)/tmp/\(orphan).eml", "Subject: half a mess")
        write("\(directory.path)/tmp/\(orphan).json", "{")
        write("\(directory.path)/tmp/\(kept.id).update.json", "{\"half\":")
        await spool!.close()
        spool = nil

        let reopened = try Spool(directory: directory.path, logger: quietLogger)
        #expect(reopened.recoveryReport.removedTemporaryFiles == 3)
        #expect(reopened.recoveryReport.queued == 1)
        #expect(directory.files("tmp").isEmpty)
        let listed = try await reopened.list()
        #expect(listed.map(\.id) == [kept.id])
        #expect(try await readAll(reopened.message(kept.id)) == sampleMessage(seed: 1, size: 3000))
        await reopened.close()
    }

    @Test("a message left 'delivering' by a crash is queued again, counted as ambiguous")
    func requeuesDelivering() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let crashTime = Date(timeIntervalSince1970: 1_750_000_000)
        var spool: Spool? = try Spool(directory: directory.path, logger: quietLogger)
        let record = try await spoolMessage(spool!, sampleMessage(seed: 2, size: 1000))
        let delivering = try await spool!.beginDelivery(record.id, now: crashTime)
        #expect(delivering.record.state == .delivering)
        #expect(delivering.record.attempts == 1)
        await spool!.close()
        spool = nil

        let restart = crashTime.addingTimeInterval(60)
        let reopened = try Spool(directory: directory.path, logger: quietLogger, now: restart)
        #expect(reopened.recoveryReport.requeued == [record.id])
        let recovered = try #require(try await reopened.list().first)
        #expect(recovered.state == .queued)
        #expect(recovered.attempts == 1)
        #expect(recovered.ambiguousAttempts == 1)
        #expect(recovered.nextAttemptAt == restart)
        #expect(recovered.lastError?.contains("interrupted") == true)
        await reopened.close()
    }

    @Test("an attempt start leaves the metadata file alone; only attempts without a result count after a crash")
    func attemptJournal() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let t0 = Date(timeIntervalSince1970: 1_750_000_000)
        var spool: Spool? = try Spool(directory: directory.path, logger: quietLogger)
        let finished = try await spoolMessage(spool!, sampleMessage(seed: 5, size: 700))
        let cut = try await spoolMessage(spool!, sampleMessage(seed: 6, size: 700))
        let untouched = try await spoolMessage(spool!, sampleMessage(seed: 7, size: 700))
        let cutFile = "\(directory.path)/queue/\(cut.id).eml"
        let before = try Data(contentsOf: URL(fileURLWithPath: cutFile))
        let inode = try FileManager.default.attributesOfItem(atPath: cutFile)[.systemFileNumber] as? UInt64

        _ = try await spool!.beginDelivery(finished.id, now: t0)
        try await spool!.recordAttempt(finished.id, .deferred(nextAttemptAt: t0.addingTimeInterval(300), error: "503", requestId: nil, transientFailure: true, ambiguous: false), now: t0)
        _ = try await spool!.beginDelivery(cut.id, now: t0.addingTimeInterval(1))
        // The start of an attempt writes no metadata file; tooling still sees it under way.
        #expect(try Data(contentsOf: URL(fileURLWithPath: cutFile)) == before)
        #expect(try FileManager.default.attributesOfItem(atPath: cutFile)[.systemFileNumber] as? UInt64 == inode)
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/queue/\(cut.id).json"))
        #expect(directory.files("tmp").isEmpty)
        let tool = try Spool(directory: directory.path, mode: .tool, logger: quietLogger)
        let listed = Dictionary(uniqueKeysWithValues: try await tool.list().map { ($0.id, $0) })
        #expect(listed[cut.id]?.state == .delivering)
        #expect(listed[cut.id]?.attempts == 1)
        #expect(listed[finished.id]?.state == .queued)
        #expect(listed[finished.id]?.attempts == 1)
        #expect(listed[untouched.id]?.state == .queued)
        #expect(try await tool.message(cut.id).record.state == .delivering)
        await tool.close()
        await spool!.close()
        spool = nil  // the server dies with the attempt of `cut` under way

        let restart = t0.addingTimeInterval(60)
        let reopened = try Spool(directory: directory.path, logger: quietLogger, now: restart)
        #expect(reopened.recoveryReport.requeued == [cut.id])
        let recovered = Dictionary(uniqueKeysWithValues: try await reopened.list().map { ($0.id, $0) })
        #expect(recovered[cut.id]?.state == .queued)
        #expect(recovered[cut.id]?.attempts == 1)
        #expect(recovered[cut.id]?.ambiguousAttempts == 1)
        #expect(recovered[cut.id]?.lastAttemptAt == t0.addingTimeInterval(1))
        #expect(recovered[cut.id]?.nextAttemptAt == restart)
        #expect(recovered[finished.id]?.ambiguousAttempts == 0)
        #expect(recovered[finished.id]?.attempts == 1)
        #expect(recovered[finished.id]?.nextAttemptAt == t0.addingTimeInterval(300))
        #expect(recovered[untouched.id]?.attempts == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/attempts.log"))
        await reopened.close()

        // Recovery is not repeated: a second restart finds nothing under way.
        let again = try Spool(directory: directory.path, logger: quietLogger, now: restart)
        #expect(again.recoveryReport.requeued.isEmpty)
        #expect(try await again.list().first { $0.id == cut.id }?.ambiguousAttempts == 1)
        await again.close()
    }

    @Test("lone halves (never committed, or interrupted delete/move) are removed; complete messages kept")
    func removesLoneHalves() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try Spool(directory: directory.path, logger: quietLogger)
        let complete = try await spoolMessage(spool!, sampleMessage(seed: 3, size: 1000))
        // Its metadata changed after commit: it has a metadata file.
        _ = try await spool!.beginDelivery(complete.id)
        try await spool!.recordAttempt(complete.id, .deferred(nextAttemptAt: Date(), error: "503", requestId: nil, transientFailure: true, ambiguous: false))
        let failed = try await spoolMessage(spool!, sampleMessage(seed: 4, size: 1000))
        try await spool!.recordAttempt(failed.id, .failed(reason: "no", status: "5.1.1", requestId: nil, bounceId: nil, bounceSuppressed: nil))
        await spool!.close()
        spool = nil

        // eml renamed but json not (crash inside commit): no 250 was given.
        let loneEml = QueueID.make()
        write("\(directory.path)/queue/\(loneEml).eml", "Subject: x\r\n\r\nbody")
        // json without eml (delete interrupted after the json went the other way round? or a
        // move to failed/ that completed except for removing the queue json).
        try FileManager.default.copyItem(atPath: "\(directory.path)/failed/\(failed.id).json", toPath: "\(directory.path)/queue/\(failed.id).json")
        // A move back from failed/ interrupted after the new json was written.
        try FileManager.default.copyItem(atPath: "\(directory.path)/queue/\(complete.id).json", toPath: "\(directory.path)/failed/\(complete.id).json")
        // Something that is not ours is left alone.
        write("\(directory.path)/queue/README", "operator notes")

        let reopened = try Spool(directory: directory.path, logger: quietLogger)
        #expect(reopened.recoveryReport.removedIncompleteFiles == 3)
        #expect(directory.files("queue") == ["\(complete.id).eml", "\(complete.id).json", "README"])
        #expect(directory.files("failed") == ["\(failed.id).eml", "\(failed.id).json"])
        #expect(try await reopened.list(.queue).map(\.id) == [complete.id])
        #expect(try await reopened.list(.failed).map(\.id) == [failed.id])
        await reopened.close()
    }

    @Test("damaged files are moved to corrupt/, not delivered and not blocking the rest")
    func corruptMovedAside() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try Spool(directory: directory.path, logger: quietLogger)
        let good = try await spoolMessage(spool!, sampleMessage(seed: 5, size: 1000))
        let badJSON = try await spoolMessage(spool!, sampleMessage(seed: 6, size: 1000))
        let truncated = try await spoolMessage(spool!, sampleMessage(seed: 7, size: 1000))
        await spool!.close()
        spool = nil
        // Damaged metadata (format 1, or a format-2 message's updated .json), and a format-2
        // file whose trailer was cut.
        write("\(directory.path)/queue/\(badJSON.id).json", "{\"version\": 2, \"id\": ")
        let oldBadJSON = try SpoolFormat1.write(directory.path, sampleMessage(seed: 16, size: 1000))
        write("\(directory.path)/queue/\(oldBadJSON.id).json", "{\"version\": 1, \"id\": ")
        let path = "\(directory.path)/queue/\(truncated.id).eml"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int - 5))
        try handle.close()

        let reopened = try Spool(directory: directory.path, logger: quietLogger)
        #expect(Set(reopened.recoveryReport.corrupt) == [badJSON.id, oldBadJSON.id, truncated.id])
        #expect(try await reopened.list().map(\.id) == [good.id])
        #expect(directory.files("corrupt").count == 5, "\(directory.files("corrupt"))")
        await reopened.close()
    }

    @Test("a second server on the same spool is refused while the first runs; tooling is not")
    func serverLock() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let first = try Spool(directory: directory.path, logger: quietLogger)
        var briefWait = SpoolConfiguration()
        briefWait.serverLockWait = .milliseconds(100)
        #expect {
            _ = try Spool(directory: directory.path, configuration: briefWait, logger: quietLogger)
        } throws: { error in
            guard case SpoolError.locked(let path, let holder) = error else { return false }
            return path == directory.path && holder == "pid \(getpid())"
        }
        let tool = try Spool(directory: directory.path, mode: .tool, logger: quietLogger)
        #expect(tool.recoveryReport == SpoolRecoveryReport())
        await tool.close()
        await first.close()
    }

    @Test("a server lock held for a moment (a forked child before its exec, a server stopping) is waited for")
    func serverLockWait() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // Another open file description of server.lock holds the flock, as a child process's
        // inherited descriptor does until it executes its program.
        let holder = open("\(directory.path)/server.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        try #require(holder >= 0)
        try #require(flock(holder, LOCK_EX | LOCK_NB) == 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) { close(holder) }

        let started = ContinuousClock.now
        let spool = try Spool(directory: directory.path, logger: quietLogger)
        #expect(ContinuousClock.now - started >= .milliseconds(250))
        #expect(try String(contentsOfFile: "\(directory.path)/server.lock", encoding: .utf8) == "\(getpid())\n")
        await spool.close()
    }

    @Test("metadata rewritten with a negative size is refused as damaged, not trusted")
    func negativeSize() async throws {
        try await withSpool { spool, directory in
            let record = try await spoolMessage(spool, sampleMessage(seed: 9, size: 1000))
            _ = try await spool.beginDelivery(record.id)
            try await spool.recordAttempt(record.id, .deferred(nextAttemptAt: Date(), error: "503", requestId: nil, transientFailure: true, ambiguous: false))
            let path = "\(directory.path)/queue/\(record.id).json"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let rewritten = text.replacingOccurrences(of: #""size"\s*:\s*1000"#, with: "\"size\": -1000", options: .regularExpression)
            try #require(rewritten != text)
            write(path, rewritten)
            await #expect {
                _ = try await spool.beginDelivery(record.id)
            } throws: { error in
                guard case SpoolError.corrupt(let damaged, let reason) = error else { return false }
                return damaged == path && reason.contains("negative size")
            }
        }
    }

    @Test("a reader notices a message file whose size is not the recorded one")
    func readerChecksSize() async throws {
        try await withSpool { spool, directory in
            let record = try await spoolMessage(spool, sampleMessage(seed: 8, size: 5000))
            // With a metadata file (an attempt's result), the message file's size is all that is
            // wrong.
            _ = try await spool.beginDelivery(record.id)
            try await spool.recordAttempt(record.id, .deferred(nextAttemptAt: Date(), error: "503", requestId: nil, transientFailure: true, ambiguous: false))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(directory.path)/queue/\(record.id).eml"))
            try handle.truncate(atOffset: 4000)
            try handle.close()
            let message = try await spool.message(record.id)
            await #expect(throws: SpoolError.self) {
                _ = try await readAll(message)
            }
        }
    }
}
