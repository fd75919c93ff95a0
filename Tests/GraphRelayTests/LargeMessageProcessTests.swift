import Foundation
import GraphEmulator
import GraphRelayTestSupport
import NIOPosix
import Testing

/// The real `graph-relay` binary on large messages, against an emulator in this process (so
/// that drafts outlive the relay): killed in the middle of a draft, and its memory while four
/// 40 MB messages go through at once.
@Suite("Large messages: the real binary (kill -9 mid-draft, memory)", .serialized, .timeLimit(.minutes(10)))
struct LargeMessageProcessTests {
    typealias F = LargeMessageFixtures
    static let sender = "scanner@printer.test"

    /// An emulator over HTTPS, a relay configuration file pointing at it, a spool directory.
    final class Setup: @unchecked Sendable {
        let directory: String
        let emulator: GraphEmulator
        let configFile: String
        /// The emulator's own threads: its work on 40 MB uploads must not hold up other tests'
        /// connections on the shared event loops.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

        init(emulator configure: (inout GraphEmulatorConfiguration) -> Void = { _ in }) async throws {
            directory = NSTemporaryDirectory() + "graph-relay-large-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var configuration = GraphEmulatorConfiguration()
            configuration.tls = .server(certificateChain: .file(TestPKI.shared.serverCertificate), privateKey: .file(TestPKI.shared.serverKey))
            configuration.applications = [.init(tenantID: QueueTestApp.tenant, clientID: QueueTestApp.clientID, secrets: [QueueTestApp.secret])]
            configuration.mailboxes = QueueTestRoutes.emulatorMailboxes
            configuration.retainsAttachmentContent = false
            configure(&configuration)
            var logger = QueueLogCapture().logger("graph-emulator")
            logger.logLevel = .warning
            emulator = try await GraphEmulator.start(configuration: configuration, eventLoopGroup: group, logger: logger)
            configFile = directory + "/relay.yaml"
            try QueueRelayFixture.relayYAML(graphURL: emulator.baseURL, spoolDirectory: directory + "/spool", maxMessageSize: "60MB",
                                            extraYAML: "logging: { level: info }")
                .write(toFile: configFile, atomically: true, encoding: .utf8)
        }

        func close() async {
            await emulator.shutdown()
            try? await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: directory)
        }

        func send(_ data: [UInt8], port: Int, from: String = LargeMessageProcessTests.sender) async throws -> String {
            let results = try await EndToEndClients.smtplib(.plain, port: port, authenticate: false, messages: [
                EndToEndMessage(from: from, to: ["alice@example.com"], data: data),
            ], timeout: 240)
            return results.first?.status ?? "no reply"
        }
    }

    @Test("kill -9 while an attachment uploads, and while the draft is being created: after a restart the draft is removed or finished, never left behind, and the message arrives once")
    func killMidDraft() async throws {
        let binary = QueueServerProcess.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "graph-relay not built next to the tests: \(binary)")
        for operation in [GraphEmulatorOperation.uploadChunk, .createDraft] {
            let setup = try await Setup()
            do {
                let emulator = setup.emulator
                // The request is processed, its answer held: the relay is killed while it waits.
                emulator.injectFault(.delay(.seconds(60)), on: operation)
                var server = try await QueueServerProcess.start(configFile: setup.configFile)
                defer { server.kill() }
                let pdf = F.bytes(4_000_000, seed: 11)
                let message = F.scan(from: Self.sender, to: "alice@example.com", messageID: "<kill-\(operation)@printer.test>", pdfs: [pdf])
                #expect(try await setup.send(message, port: server.port) == "250 2.0.0")
                #expect(await queueWait(timeout: .seconds(60)) { emulator.requestCount(operation) >= 1 && emulator.draftCount() == 1 })
                server.kill()
                emulator.clearFaults()
                #expect(emulator.acceptedMessages.isEmpty)

                server = try await QueueServerProcess.start(configFile: setup.configFile)
                #expect(await queueWait(timeout: .seconds(90)) { emulator.acceptedMessages.count == 1 && emulator.draftCount() == 0 },
                        "\(operation): \(server.output.suffix(3000))")
                server.kill()
                #expect(emulator.acceptedMessages.count == 1)
                #expect(emulator.acceptedMessages.first?.attachments.first?.sha256 == F.sha256(pdf))
                #expect(emulator.requestCount(.createDraft) == 2)
                #expect(emulator.requestCount(.deleteDraft) == 1, "the first attempt's draft was deleted")
                if operation == .createDraft {
                    #expect(emulator.requestCount(.findDrafts) == 1, "found by its Message-ID")
                }
            } catch {
                await setup.close()
                throw error
            }
            await setup.close()
        }
    }

    /// Resident memory of a process, in kB (`VmRSS` or `VmHWM` from /proc).
    static func memory(_ pid: Int32, _ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }

    @Test("four 40 MB messages relayed at once raise the relay's peak memory by less than 64 MB")
    func memory() async throws {
        let binary = QueueServerProcess.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "graph-relay not built next to the tests: \(binary)")
        let setup = try await Setup()
        do {
            let emulator = setup.emulator
            let server = try await QueueServerProcess.start(configFile: setup.configFile)
            defer { server.kill() }
            let pid = server.process.pid
            // Warm up (token, connections, spool files), then take the baseline.
            #expect(try await setup.send(Array(QueueTestMessage.make(from: Self.sender, to: "alice@example.com", subject: "warm-up").utf8),
                                         port: server.port) == "250 2.0.0")
            #expect(await queueWait(timeout: .seconds(30)) { emulator.acceptedMessages.count == 1 })
            let baseline = try #require(Self.memory(pid, "VmRSS"))

            // Two scanners, each sending to its own mailbox: 160 MB to one mailbox would be more
            // than Graph's upload budget of 150 MiB in 5 minutes, and the fourth would wait.
            let senders = [Self.sender, Self.sender, "device@other.test", "device@other.test"]
            let messages = (0..<4).map { index in
                F.scan(from: senders[index], to: "alice@example.com", messageID: "<big-\(index)@printer.test>",
                       pdfs: [F.bytes(15_000_000, seed: UInt64(20 + index)), F.bytes(14_500_000, seed: UInt64(30 + index))])
            }
            #expect(messages.allSatisfy { $0.count > 40_000_000 })
            let replies = try await withThrowingTaskGroup(of: String.self) { group in
                for (message, sender) in zip(messages, senders) { group.addTask { try await setup.send(message, port: server.port, from: sender) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            try #require(replies == Array(repeating: "250 2.0.0", count: 4))
            #expect(await queueWait(timeout: .seconds(240)) { emulator.acceptedMessages.count == 5 }, "\(server.output.suffix(2000))")
            let peak = try #require(Self.memory(pid, "VmHWM"))
            server.kill()
            let growth = (peak - baseline) / 1024
            print("relay memory: baseline \(baseline / 1024) MB, peak \(peak / 1024) MB, growth \(growth) MB")
            #expect(growth < 64, "peak \(peak) kB against a baseline of \(baseline) kB")
            #expect(emulator.acceptedMessages.dropFirst().allSatisfy { $0.attachments.count == 2 })
        } catch {
            await setup.close()
            throw error
        }
        await setup.close()
    }
}
