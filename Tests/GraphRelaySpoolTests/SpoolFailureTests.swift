import Foundation
import GraphRelaySpoolTestSupport
import NIOCore
import Testing

@testable import GraphRelaySpool

@Suite("Spool I/O errors")
struct SpoolFailureTests {
    /// Every file the spool holds, outside the lock files.
    private func visibleFiles(_ directory: TemporaryDirectory) -> [String] {
        ["tmp", "queue", "failed"].flatMap { area in directory.files(area).map { "\(area)/\($0)" } }
    }

    @Test(
        "a failure at any step of commit throws a clear error and leaves nothing behind",
        arguments: [SpoolFaultPoint.writeMessage, .syncMessage, .writeMetadata, .renameMessage, .syncDirectory]
    )
    func injectedFailure(_ point: SpoolFaultPoint) async throws {
        var configuration = SpoolConfiguration()
        configuration.writeBufferSize = 4096
        configuration.faults = SpoolFaultInjector { failing, _ in failing == point ? ENOSPC : nil }
        try await withSpool(configuration: configuration) { spool, directory in
            let writer = try spool.makeWriter()
            var thrown: (any Error)?
            do {
                for offset in stride(from: 0, to: 20_000, by: 1000) {
                    try await writer.append(ByteBuffer(bytes: sampleMessage(seed: 1, size: 20_000)[offset..<(offset + 1000)]))
                }
                try await writer.commit(envelope())
            } catch {
                thrown = error
            }
            let error = try #require(thrown as? SpoolError)
            guard case .io(let operation, _, let code) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(operation.hasPrefix(point.rawValue))
            #expect(code == ENOSPC)
            #expect("\(error)".contains("No space left on device"))
            await writer.abort()
            #expect(visibleFiles(directory).isEmpty)
            #expect(try await spool.list().isEmpty)
        }
    }

    @Test("an unusable spool directory: commit throws, nothing is visible, recovery delivers nothing")
    func unusableTemporaryDirectory() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try Spool(directory: directory.path, logger: quietLogger)
        // Root ignores permission bits, so break the directory itself: tmp/ becomes a file.
        try FileManager.default.removeItem(atPath: "\(directory.path)/tmp")
        _ = FileManager.default.createFile(atPath: "\(directory.path)/tmp", contents: Data("not a directory".utf8))
        let writer = try spool.makeWriter()
        try await writer.append(ByteBuffer(bytes: sampleMessage(seed: 2, size: 2000)))
        await #expect {
            try await writer.commit(envelope())
        } throws: { error in
            guard case SpoolError.io(let operation, let path, let code) = error else { return false }
            return operation == "open" && path.hasSuffix("/tmp/\(writer.id).eml") && code == ENOTDIR
                && "\(error)".contains("Not a directory")
        }
        #expect(directory.files("queue").isEmpty)
        await spool.close()
    }

    /// Root ignores permission bits (the tests above break the directory or inject errors
    /// instead), so this one runs only for other users.
    @Test("a read-only spool directory: commit throws EACCES, nothing is visible", .enabled(if: getuid() != 0))
    func readOnlyDirectory() async throws {
        let directory = TemporaryDirectory()
        defer {
            chmod("\(directory.path)/tmp", 0o755)
            chmod("\(directory.path)/queue", 0o755)
            directory.remove()
        }
        let spool = try Spool(directory: directory.path, logger: quietLogger)
        chmod("\(directory.path)/tmp", 0o555)
        chmod("\(directory.path)/queue", 0o555)
        let writer = try spool.makeWriter()
        try await writer.append(ByteBuffer(bytes: sampleMessage(seed: 3, size: 2000)))
        await #expect {
            try await writer.commit(envelope())
        } throws: { error in
            guard case SpoolError.io(_, _, let code) = error else { return false }
            return code == EACCES
        }
        #expect(directory.files("queue").isEmpty)
        await spool.close()
    }

    @Test("a write error while streaming surfaces at the next append or at commit")
    func streamingWriteError() async throws {
        var configuration = SpoolConfiguration()
        configuration.writeBufferSize = 1024
        configuration.maxPendingWriteBytes = 2048
        configuration.faults = SpoolFaultInjector { point, _ in point == .writeMessage ? EIO : nil }
        try await withSpool(configuration: configuration) { spool, directory in
            let writer = try spool.makeWriter()
            var failed = false
            do {
                for _ in 0..<200 {
                    try await writer.append(ByteBuffer(repeating: UInt8(ascii: "a"), count: 512))
                }
                try await writer.commit(envelope())
            } catch SpoolError.io(_, _, let code) {
                failed = code == EIO
            }
            #expect(failed)
            await writer.abort()
            #expect(visibleFiles(directory).isEmpty)
        }
    }

    @Test("operations on a closed spool throw 'closed'")
    func closedSpool() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try Spool(directory: directory.path, logger: quietLogger)
        await spool.close()
        #expect(throws: SpoolError.closed) { _ = try spool.makeWriter() }
        await #expect(throws: SpoolError.closed) { _ = try await spool.list() }
    }

    @Test("errors describe themselves for the operator")
    func descriptions() {
        let id = QueueID.make()
        #expect("\(SpoolError.io(operation: "fsync", path: "/spool/tmp/x", errno: EIO))" == "spool I/O error: fsync /spool/tmp/x: Input/output error (errno 5)")
        #expect("\(SpoolError.notFound(id))" == "no message \(id) in the spool")
        #expect("\(SpoolError.invalidQueueID("abc"))".contains("'abc' is not a queue id"))
        #expect("\(SpoolError.locked(directory: "/spool", holder: "pid 7"))" == "spool /spool is in use by another graph-relay server (pid 7)")
    }
}
