import Foundation
import GraphRelaySpool
import GraphRelayTestSupport
import Testing

/// The durability cost of one message, counted at the system-call level: the real binary runs
/// under `strace`, swaks sends messages one at a time, and each accepted message must have cost
/// exactly one `fdatasync` (its file: the message and its metadata trailer) — the directory
/// fsyncs that make it visible are `fsync`s, shared between concurrent commits.
@Suite("Spool: one fdatasync per accepted message (strace)", .timeLimit(.minutes(2)))
struct SpoolSyncCountTests {
    @Test("ten messages from swaks: ten fdatasyncs, each message one file in queue/ until its metadata changes")
    func oneFileSyncPerMessage() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: QueueServerProcess.binary), "graph-relay not built: \(QueueServerProcess.binary)")
        try #require(ProcessRunner.which("strace") != nil, "strace is not installed (make test installs it)")
        // Graph answers 503: every message stays queued, so the spool is what the counts show.
        try await QueueRelayFixture.with(retry: "{ initial: 1h, maximum: 1h, lifetime: 2h }") { fixture in
            fixture.emulator.injectSendMailFault(.serviceUnavailable(), count: 1000)
            let configFile = fixture.directory + "/relay.yaml"
            try fixture.yaml.write(toFile: configFile, atomically: true, encoding: .utf8)
            let server = try await QueueServerProcess.start(configFile: configFile)
            defer { server.kill() }
            let smtpPort = server.port
            // strace attaches to every thread of the running server (and detaches when stopped).
            let trace = fixture.directory + "/strace.out"
            let tracer = try BackgroundProcess("strace", ["-f", "-qq", "-e", "trace=fdatasync", "-o", trace, "-p", "\(server.process.pid)"])
            defer { tracer.stop() }
            let attached = await queueWait(timeout: .seconds(10)) { Self.isTraced(server.process.pid) }
            try #require(attached, "strace did not attach (ptrace not permitted?): \(tracer.text)")
            let before = try Self.fdatasyncs(trace)
            // The server's slots (empty files made ahead in queue/) are ready: each message is
            // written into one, so the commit is the fdatasync and nothing else.
            func slots() -> Set<String> {
                Set(QueueSpoolFiles.files(fixture.spoolDirectory, area: "queue")).subtracting(QueueSpoolFiles.messageFiles(fixture.spoolDirectory))
            }
            let ready = await queueWait(timeout: .seconds(10)) { slots().count == SpoolConfiguration.serverSlots }
            #expect(ready, "\(slots().count) slots")
            let slotsBefore = slots()

            for index in 1...10 {
                let sent = try await ProcessRunner.run("swaks", [
                    "--server", "127.0.0.1", "--port", "\(smtpPort)", "--ehlo", "sync.test", "--timeout", "30",
                    "--from", "scanner@printer.test", "--to", "alice@example.com", "--header", "Subject: sync-\(index)",
                ], timeout: 45)
                #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)")
            }
            // Each message's first attempt is deferred (503): its metadata file is written then,
            // with fsync, not fdatasync. Wait for those, so that nothing is still on its way.
            let settled = await queueWait(timeout: .seconds(20)) {
                QueueSpoolFiles.files(fixture.spoolDirectory, area: "queue").filter { $0.hasSuffix(".json") }.count == 10
            }
            #expect(settled, "\(QueueSpoolFiles.files(fixture.spoolDirectory, area: "queue"))")
            #expect(try Self.fdatasyncs(trace) - before == 10)
            let messages = QueueSpoolFiles.messageFiles(fixture.spoolDirectory).filter { $0.hasSuffix(".eml") }
            #expect(messages.count == 10)
            #expect(Set(messages).isSubset(of: slotsBefore), "messages not written into slots: \(Set(messages).subtracting(slotsBefore))")
        }
    }

    /// Whether a tracer is attached to the process (`TracerPid` in /proc/PID/status).
    static func isTraced(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("TracerPid:") }) else { return false }
        return Int(line.dropFirst("TracerPid:".count).trimmingCharacters(in: .whitespaces)) ?? 0 != 0
    }

    /// `fdatasync` calls in the trace so far (a call split by another thread's shows its start
    /// once, as `fdatasync(… <unfinished …>`).
    static func fdatasyncs(_ path: String) throws -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        return text.split(separator: "\n").filter { $0.contains("fdatasync(") }.count
    }
}
