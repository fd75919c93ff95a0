import Foundation
import GraphEmulator
import GraphRelayTestSupport
import Logging
import NIOCore
import Testing

/// Nothing acknowledged is lost under kill -9: the real `graph-relay serve` (delivering to a Graph
/// emulator in this test process, which outlives every kill) is killed with SIGKILL while clients are sending and messages
/// are being delivered; after a restart on the same spool every message that got a 250 reaches
/// the outbox. Duplicates are allowed (at-least-once) and counted.
@Suite("Queue: kill -9 under load (real graph-relay binary)")
struct QueueKillTests {
    static let mailbox = "relay@contoso.test"
    static let clients = 6
    static let kills = 3
    /// 250s per round before the kill (and at least `deliveredBeforeKill` messages in the outbox).
    static let acknowledgedBeforeKill = 60
    static let deliveredBeforeKill = 5

    @Test("kill -9 under load, three times: every 250-acknowledged message is delivered after restart")
    func killUnderLoad() async throws {
        let binary = QueueServerProcess.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "graph-relay not built next to the tests: \(binary)")
        let directory = NSTemporaryDirectory() + "graph-relay-kill-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Graph stands in this test process: it outlives every kill of the relay.
        var emulatorConfiguration = GraphEmulatorConfiguration()
        emulatorConfiguration.tls = .server(certificateChain: .file(TestPKI.shared.serverCertificate), privateKey: .file(TestPKI.shared.serverKey))
        emulatorConfiguration.applications = [.init(tenantID: "contoso.onmicrosoft.com", clientID: "7f1c9a52-3d4b-4c8e-9a61-0b2d5e8f4c10", secrets: ["kill-test-secret"])]
        emulatorConfiguration.mailboxes = [GraphEmulatorConfiguration.Mailbox(Self.mailbox)]
        emulatorConfiguration.enforceSendAs = false
        emulatorConfiguration.outboxDirectory = directory + "/outbox"
        emulatorConfiguration.retainedMessages = 1000
        let emulator = try await GraphEmulator.start(configuration: emulatorConfiguration,
                                                     logger: Logger(label: "graph-emulator", factory: { _ in SwiftLogNoOpLogHandler() }))
        let configFile = directory + "/relay.yaml"
        try """
            smtp:
              hostname: relay.kill.test
              listeners:
                - { address: "127.0.0.1:0" }   # the server logs the port it got
            access:
              networks: ["127.0.0.0/8"]
            applications:
              - name: contoso
                tenantId: contoso.onmicrosoft.com
                clientId: 7f1c9a52-3d4b-4c8e-9a61-0b2d5e8f4c10
                clientSecret: kill-test-secret
                loginEndpoint: \(emulator.baseURL)
                graphEndpoint: \(emulator.baseURL)
                caFile: \(TestPKI.shared.caCertificate)
            routes:
              - { sender: "*", application: contoso, mailbox: \(Self.mailbox) }
            delivery: queue
            spool:
              directory: spool
              retry: { initial: 100ms, maximum: 500ms, lifetime: 1h }
            scheduler: { concurrencyPerMailbox: 4, messagesPerMinute: 10000 }
            admin: { address: "127.0.0.1:0" }
            """.write(toFile: configFile, atomically: true, encoding: .utf8)
        let spool = directory + "/spool"
        let outbox = directory + "/outbox/" + Self.mailbox

        let ledger = KillLedger()
        var report: [String] = []
        for round in 0..<Self.kills {
            let server = try await QueueServerProcess.start(configFile: configFile)
            let recovered = Self.recovery(in: server.output)
            let load = Task { await Self.drive(port: server.port, round: round, ledger: ledger) }
            let baseline = ledger.acknowledgedCount
            let busy = await queueWait(timeout: .seconds(40)) {
                ledger.acknowledgedCount - baseline >= Self.acknowledgedBeforeKill && Self.outboxFiles(outbox).count >= Self.deliveredBeforeKill * (round + 1)
            }
            let queuedAtKill = QueueSpoolFiles.messageFiles(spool).filter { $0.hasSuffix(".eml") }.count
            server.kill()
            await load.value
            #expect(busy, "round \(round): load did not get going; server log:\n\(server.output.suffix(3000))")
            report.append("round \(round): recovery \(recovered); \(ledger.acknowledgedCount - baseline) acknowledged, \(queuedAtKill) queued at the kill")
        }

        // Restart on the same spool and outbox, without load, and let the queue drain.
        let server = try await QueueServerProcess.start(configFile: configFile)
        let drained = await queueWait(timeout: .seconds(60)) { QueueSpoolFiles.messageFiles(spool).isEmpty }
        report.append("final restart: recovery \(Self.recovery(in: server.output))")
        server.kill()
        await emulator.shutdown()
        #expect(drained, "queue not empty a minute after the restart: \(QueueSpoolFiles.messageFiles(spool).prefix(10)); log:\n\(server.output.suffix(3000))")
        #expect(QueueSpoolFiles.files(spool, area: "failed").isEmpty)
        // tmp/ holds only spares (delivered messages' files kept for reuse), no interrupted write.
        #expect(QueueSpoolFiles.files(spool, area: "tmp").filter { !$0.hasSuffix(".spare") }.isEmpty)

        // Every 250-acknowledged message is in the outbox.
        var copies: [String: Int] = [:]
        for file in Self.outboxFiles(outbox) {
            let bytes = Array(FileManager.default.contents(atPath: outbox + "/" + file) ?? Data())
            copies[QueueTestMessage.subject(of: bytes) ?? "(no subject) \(file)", default: 0] += 1
        }
        let acknowledged = ledger.acknowledged
        let missing = acknowledged.filter { copies[$0] == nil }.sorted()
        #expect(missing.isEmpty, "\(missing.count) of \(acknowledged.count) acknowledged messages lost: \(missing.prefix(20))")
        let duplicates = copies.values.reduce(0) { $0 + max($1 - 1, 0) }
        let unacknowledged = Set(copies.keys).subtracting(acknowledged)
        #expect(unacknowledged.isSubset(of: ledger.attempted), "the outbox holds messages nobody sent: \(unacknowledged.subtracting(ledger.attempted).prefix(5))")
        #expect(acknowledged.count >= Self.kills * Self.acknowledgedBeforeKill)
        print("""
            queue kill -9 acceptance: \(Self.kills) kills (SIGKILL), \(acknowledged.count) messages acknowledged with 250, \
            \(missing.count) lost, \(duplicates) duplicates, \(unacknowledged.count) delivered without a 250 (cut off by the kill); \
            \(report.joined(separator: " | "))
            """)
    }

    /// `clients` concurrent SMTP sessions sending until the server goes away.
    static func drive(port: Int, round: Int, ledger: KillLedger) async {
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    guard let session = try? await QueueSMTPSession.open(port: port) else { return }
                    var index = 0
                    while true {
                        let subject = "kill9-r\(round)-c\(client)-\(index)"
                        let message = QueueTestMessage.make(from: mailbox, to: "alice@example.com", subject: subject, bodyLines: 10 + (index * 37) % 200)
                        ledger.attempt(subject)
                        guard let reply = try? await session.send(from: "scanner@printer.test", to: ["alice@example.com"], message: message, timeout: .seconds(10)) else {
                            break  // killed
                        }
                        if reply.code == 250 { ledger.acknowledge(subject) } else { break }
                        index += 1
                    }
                    await session.client.close()
                }
            }
        }
    }

    /// What the spool's recovery did at start (from the "spool opened" log line), briefly.
    static func recovery(in output: String) -> String {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("spool opened: ") }),
              let range = line.range(of: "spool opened: ") else { return "-" }
        let report = String(line[range.upperBound...])
        func count(_ key: String) -> String {
            guard let start = report.range(of: key + ": ") else { return "?" }
            return String(report[start.upperBound...].prefix { $0.isNumber })
        }
        let requeued = report.range(of: "requeued: [").map { range in
            report[range.upperBound...].prefix { $0 != "]" }.split(separator: ",").count
        } ?? 0
        return "tmp files removed \(count("removedTemporaryFiles")), incomplete removed \(count("removedIncompleteFiles")), "
            + "requeued from delivering \(requeued), queued \(count(", queued"))"
    }

    static func outboxFiles(_ outbox: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: outbox)) ?? []).filter { $0.hasSuffix(".eml") && !$0.hasPrefix(".") }
    }
}

/// Which subjects were sent and which got a 250.
final class KillLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var sent = Set<String>()
    private var acked = Set<String>()

    func attempt(_ subject: String) {
        lock.lock()
        sent.insert(subject)
        lock.unlock()
    }

    func acknowledge(_ subject: String) {
        lock.lock()
        acked.insert(subject)
        lock.unlock()
    }

    var acknowledged: Set<String> {
        lock.lock()
        defer { lock.unlock() }
        return acked
    }

    var attempted: Set<String> {
        lock.lock()
        defer { lock.unlock() }
        return sent
    }

    var acknowledgedCount: Int { acknowledged.count }
}
