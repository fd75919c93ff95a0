import Foundation
import GraphRelaySpoolTestSupport
import Testing

@testable import GraphRelaySpool

@Suite("Attempt journal")
struct SpoolAttemptJournalTests {
    private static let start = Date(timeIntervalSince1970: 1_750_000_000)

    private func fileSize(_ path: String) throws -> Int64 {
        try Posix.fileSize(path) ?? 0
    }

    /// Starts and finishes attempts while the file stays within the threshold, so that the next
    /// start crosses it. Returns how many were started.
    @discardableResult
    private func fillToThreshold(_ journal: SpoolAttemptJournal) throws -> Int {
        var started = 0
        while true {
            let id = QueueID.make(now: Self.start)
            let entry = SpoolAttemptJournal.Entry(attempt: 1, startedAt: Self.start)
            guard try fileSize(journal.path) + Int64(SpoolAttemptJournal.line(id, entry).utf8.count) <= SpoolAttemptJournal.compactionThreshold else {
                return started
            }
            try journal.begin(id, entry)
            _ = journal.finish(id)
            started += 1
        }
    }

    /// A journal in a new spool directory (with its `tmp/`).
    private func withJournal(_ body: (SpoolAttemptJournal, SpoolPaths) throws -> Void) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let paths = SpoolPaths(directory: directory.path)
        try Posix.makeDirectory(paths.tmp)
        let journal = SpoolAttemptJournal(paths: paths)
        defer { journal.close() }
        try body(journal, paths)
    }

    @Test("past its threshold the journal is rewritten with the attempts under way only; later starts go to the new file")
    func compacts() throws {
        try withJournal { journal, paths in
            let underWay = QueueID.make(now: Self.start)
            try journal.begin(underWay, .init(attempt: 3, startedAt: Self.start))
            #expect(try fillToThreshold(journal) > 1000)
            let crossing = QueueID.make(now: Self.start)
            try journal.begin(crossing, .init(attempt: 1, startedAt: Self.start))
            #expect(try fileSize(journal.path) < 200)
            #expect(try SpoolAttemptJournal.read(journal.path) == [
                underWay: .init(attempt: 3, startedAt: Self.start), crossing: .init(attempt: 1, startedAt: Self.start),
            ])

            let later = QueueID.make(now: Self.start)
            try journal.begin(later, .init(attempt: 2, startedAt: Self.start))
            #expect(try SpoolAttemptJournal.read(journal.path)[later] == .init(attempt: 2, startedAt: Self.start))
            #expect(Posix.exists(paths.tmp + "/attempts.log") == false)
        }
    }

    @Test("a compaction that fails does not fail the start; appends go on in the same file, and it compacts once it can")
    func failedCompaction() throws {
        try withJournal { journal, paths in
            // A directory where compaction writes its new file: the write fails.
            let obstacle = paths.tmp + "/attempts.log"
            try Posix.makeDirectory(obstacle)
            try fillToThreshold(journal)
            var started: [QueueID] = []
            for _ in 0..<20 {
                let id = QueueID.make(now: Self.start)
                try journal.begin(id, .init(attempt: 1, startedAt: Self.start))
                started.append(id)
            }
            #expect(try fileSize(journal.path) > SpoolAttemptJournal.compactionThreshold)
            let entries = try SpoolAttemptJournal.read(journal.path)
            #expect(started.allSatisfy { entries[$0] != nil })

            try FileManager.default.removeItem(atPath: obstacle)
            let next = QueueID.make(now: Self.start)
            try journal.begin(next, .init(attempt: 1, startedAt: Self.start))
            #expect(try fileSize(journal.path) < 2000)
            #expect(Set(try SpoolAttemptJournal.read(journal.path).keys) == Set(started + [next]))
        }
    }
}
