import Foundation
import GraphRelaySpoolTestSupport
import GraphRelayTestSupport
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import GraphRelaySpool

/// The environment variable that turns the test binary into the crash test's child writer.
private let childVariable = "GRAPH_RELAY_SPOOL_CRASH_CHILD"
/// The child's ``SpoolConfiguration/slots``.
private let slotsVariable = "GRAPH_RELAY_SPOOL_CRASH_SLOTS"

/// Seeds are spread over workers: worker w writes seeds w, w+4, w+8, …
private func size(forSeed seed: Int) -> Int {
    [2_000, 40_000, 400_000, 1_500_000][seed % 4] + seed
}

@Suite("Spool crash safety (kill -9)")
struct SpoolCrashTests {
    /// Runs in the child process only: writes messages until killed (120 s at most; the parent
    /// may itself wait long for a turn on a busy machine, and must still find it streaming), printing
    /// `COMMITTED <id> <seed>` after each commit returned and `STREAMING <seed>` before each.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[childVariable] != nil))
    func childWriter() async throws {
        let directory = ProcessInfo.processInfo.environment[childVariable]!
        var configuration = SpoolConfiguration()
        configuration.writeBufferSize = 16 * 1024
        configuration.slots = Int(ProcessInfo.processInfo.environment[slotsVariable] ?? "") ?? 0
        let spool = try Spool(directory: directory, configuration: configuration, logger: quietLogger)
        let out = FileHandle.standardOutput
        let deadline = Date().addingTimeInterval(120)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var seed = worker
                    while Date() < deadline {
                        let bytes = sampleMessage(seed: seed, size: size(forSeed: seed))
                        out.write(Data("STREAMING \(seed)\n".utf8))
                        let writer = try spool.makeWriter()
                        var offset = 0
                        var chunks = 0
                        while offset < bytes.count {
                            let end = min(offset + 8192, bytes.count)
                            try await writer.append(ByteBuffer(bytes: bytes[offset..<end]))
                            offset = end
                            chunks += 1
                            if chunks % 8 == 0 { try await Task.sleep(nanoseconds: 300_000) }
                        }
                        let record = try await writer.commit(envelope())
                        out.write(Data("COMMITTED \(record.id) \(seed)\n".utf8))
                        seed += 4
                    }
                }
            }
            try await group.waitForAll()
        }
        await spool.close()
    }

    /// With 8 slots (``SpoolSlots``) the messages are written in `queue/` itself, and the slots
    /// are made again every few messages while the child is killed.
    @Test("kill -9 while messages stream in: every committed message is intact, nothing partial is visible", arguments: [0, 8])
    func killNineMidStream(slots: Int) async throws {
        let directory = TemporaryDirectory("crash")
        defer { directory.remove() }
        var configuration = SpoolConfiguration()
        configuration.slots = slots
        for round in 0..<2 {
            let output = try await runChildAndKill(directory: directory.path, slots: slots, commitsBeforeKill: 12 + round * 4)
            let committed = Dictionary(
                output.split(separator: "\n").compactMap { line -> (QueueID, Int)? in
                    let parts = line.split(separator: " ")
                    guard parts.count == 3, parts[0] == "COMMITTED", let id = QueueID(String(parts[1])), let seed = Int(parts[2]) else { return nil }
                    return (id, seed)
                },
                uniquingKeysWith: { first, _ in first }
            )
            #expect(committed.count >= 12 + round * 4, "round \(round): the child committed too little")

            // Restart: recovery, then check every message.
            let spool = try Spool(directory: directory.path, configuration: configuration, logger: quietLogger)
            #expect(directory.files("tmp").isEmpty)
            if slots > 0 {
                // The child's slots are taken over; a slot holding a write the kill cut short is not.
                #expect(spool.slots.statistics.ready > 0, "round \(round): \(spool.recoveryReport)")
            }
            let listed = try await spool.list()
            let listedIDs = Set(listed.map(\.id))
            for (id, _) in committed {
                #expect(listedIDs.contains(id), "round \(round): committed message \(id) was lost")
            }
            for record in listed {
                let message = try await spool.message(record.id)
                let bytes = try await readAll(message)
                let subject = MessageHeaders(bytes).value(of: "Subject") ?? ""
                let seed = try #require(Int(subject.replacingOccurrences(of: "scan ", with: "")), "round \(round): \(record.id) has no seed")
                if let expectedSeed = committed[record.id] { #expect(seed == expectedSeed) }
                #expect(record.size == Int64(size(forSeed: seed)))
                #expect(bytes == sampleMessage(seed: seed, size: size(forSeed: seed)), "round \(round): \(record.id) is damaged")
            }
            #expect(spool.recoveryReport.corrupt.isEmpty)
            if ProcessInfo.processInfo.environment["SPOOL_TEST_LOG"] != nil { print("round \(round): \(spool.recoveryReport), committed \(committed.count), listed \(listed.count)") }
            await spool.close()
        }
    }

    /// Starts the test binary as a child writer on `directory`, waits until it reported
    /// `commitsBeforeKill` commits and is streaming another message, then SIGKILLs it (SIGTERM may
    /// be blocked in children of the test runner). Returns the complete lines it printed.
    private func runChildAndKill(directory: String, slots: Int, commitsBeforeKill: Int) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["--testing-library", "swift-testing", "--filter", "childWriter"]
        process.environment = ProcessInfo.processInfo.environment.merging([childVariable: directory, slotsVariable: "\(slots)"]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let collected = PipeCollector(pipe)
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        let ready = await eventually(timeout: 90) {
            let text = collected.text
            let lines = text.split(separator: "\n")
            let commits = lines.filter { $0.hasPrefix("COMMITTED ") }.count
            return commits >= commitsBeforeKill && lines.last?.hasPrefix("STREAMING ") == true
        }
        kill(process.processIdentifier, SIGKILL)
        let exited = await eventually(timeout: 10) { !process.isRunning }
        #expect(ready, "the child did not get going: \(collected.text.suffix(500))")
        #expect(exited)
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
        try? await Task.sleep(nanoseconds: 50_000_000)  // the pipe's last bytes
        pipe.fileHandleForReading.readabilityHandler = nil
        let text = collected.text
        // Only complete lines count: a line cut by the kill was not fully reported.
        guard let lastNewline = text.lastIndex(of: "\n") else { return "" }
        return String(text[...lastNewline])
    }
}
