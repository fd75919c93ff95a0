import Foundation
import GraphEmulator
@testable import GraphRelay
import GraphRelayDelivery
import GraphRelaySpool
import GraphRelayTestSupport
import Logging
import NIOCore

// Support for the queue (docs/spool.md) integration tests: a relay with `delivery: queue` in this
// process, pointed at a Graph emulator the test controls (TLS with the test PKI), plus SMTP
// clients, spool inspection and a log capture. Every wait has a time limit.

/// The application every queue test registers, in the emulator and in the relay's configuration.
enum QueueTestApp {
    static let name = "contoso"
    static let tenant = "contoso.onmicrosoft.com"
    static let clientID = "7f1c9a52-3d4b-4c8e-9a61-0b2d5e8f4c10"
    static let secret = "queue-e2e-client-secret"
}

/// Routes shared by the in-process tests: sender domain → Graph mailbox.
enum QueueTestRoutes {
    /// `*@printer.test` → `relay@contoso.test` (which may send as `scanner@printer.test` only).
    static let printerMailbox = "relay@contoso.test"
    /// `*@other.test` → `other@contoso.test` (may send as `device@other.test`).
    static let otherMailbox = "other@contoso.test"
    /// `*@slow.test` → `slow@contoso.test` (may send as `clock@slow.test`).
    static let slowMailbox = "slow@contoso.test"
    /// `*@ghost.test` → `ghost@contoso.test`, a mailbox the emulator does not know (404).
    static let ghostMailbox = "ghost@contoso.test"

    static let yaml = """
        routes:
          - { sender: "*@printer.test", application: contoso, mailbox: \(printerMailbox) }
          - { sender: "*@other.test", application: contoso, mailbox: \(otherMailbox) }
          - { sender: "*@slow.test", application: contoso, mailbox: \(slowMailbox) }
          - { sender: "*@ghost.test", application: contoso, mailbox: \(ghostMailbox) }
        """

    static let emulatorMailboxes: [GraphEmulatorConfiguration.Mailbox] = [
        .init(printerMailbox, sendAs: ["scanner@printer.test"]),
        .init(otherMailbox, sendAs: ["device@other.test"]),
        .init(slowMailbox, sendAs: ["clock@slow.test"]),
    ]
}

// MARK: Log capture

/// The queue tests' log capture is the shared one.
typealias QueueLogCapture = LogCapture

// MARK: Waiting

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func queueWait(timeout: Duration = .seconds(20), poll: Duration = .milliseconds(25),
               _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: poll)
    }
}

// MARK: Messages

enum QueueTestMessage {
    /// A message with a unique `Subject`, a `Message-ID` and `bodyLines` lines of text; ends with
    /// CRLF. No line starts with a dot, so the bytes on the wire are the bytes of the message.
    static func make(from: String, to: String, subject: String, bodyLines: Int = 20, messageID: Bool = true) -> String {
        var text = "From: \(from)\r\nTo: \(to)\r\nSubject: \(subject)\r\n"
        if messageID { text += "Message-ID: <\(subject)@queue-e2e.test>\r\n" }
        text += "Date: Tue, 25 Nov 2025 08:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        for line in 0..<bodyLines {
            text += "\(subject) line \(line): the quick brown fox jumps over the lazy dog 0123456789\r\n"
        }
        return text
    }

    /// The value of the first `Subject:` field in the header section of `mime`.
    static func subject(of mime: [UInt8]) -> String? {
        header("Subject", in: mime)
    }

    static func header(_ name: String, in mime: [UInt8]) -> String? {
        let text = String(decoding: mime, as: UTF8.self)
        let head = text.components(separatedBy: "\r\n\r\n").first ?? text
        let prefix = name.lowercased() + ":"
        for line in head.components(separatedBy: "\r\n") where line.lowercased().hasPrefix(prefix) {
            return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Whether `mime` is `original` exactly, preceded only by the relay's `Received:` field: the
    /// message as the client sent it, not a byte changed, lost or added elsewhere.
    static func isIntact(_ mime: [UInt8], original: String) -> Bool {
        let originalBytes = Array(original.utf8)
        guard mime.count > originalBytes.count, Array(mime.suffix(originalBytes.count)) == originalBytes else { return false }
        let added = String(decoding: mime.prefix(mime.count - originalBytes.count), as: UTF8.self)
        return added.hasPrefix("Received: ") && added.hasSuffix("\r\n") && !added.contains("\r\n\r\n")
    }
}

// MARK: SMTP

/// One SMTP connection that can send several messages.
struct QueueSMTPSession {
    let client: SMTPTestClient

    static func open(port: Int) async throws -> QueueSMTPSession {
        let client = try await SMTPTestClient.connect(port: port)
        let greeting = try await client.readReply()
        guard greeting.code == 220 else {
            await client.close()
            throw QueueTestError("greeting \(greeting)")
        }
        let ehlo = try await client.command("EHLO client.queue-e2e.test")
        guard ehlo.code == 250 else {
            await client.close()
            throw QueueTestError("EHLO answered \(ehlo)")
        }
        return QueueSMTPSession(client: client)
    }

    /// Sends one message; returns the reply to the end of data (or the first refusal before it).
    func send(from: String, to: [String], message: String, timeout: TimeAmount = .seconds(20)) async throws -> SMTPTestReply {
        let mail = try await client.command("MAIL FROM:<\(from)>")
        guard mail.code == 250 else { return mail }
        for recipient in to {
            let rcpt = try await client.command("RCPT TO:<\(recipient)>")
            guard rcpt.code == 250 else { return rcpt }
        }
        let data = try await client.command("DATA")
        guard data.code == 354 else { return data }
        try await client.send(message + ".\r\n")
        return try await client.readReply(timeout: timeout)
    }

    func quit() async {
        _ = try? await client.command("QUIT", timeout: .seconds(5))
        await client.close()
    }

    /// Opens a connection, sends one message, quits.
    static func sendOne(port: Int, from: String, to: [String], message: String) async throws -> SMTPTestReply {
        let session = try await open(port: port)
        do {
            let reply = try await session.send(from: from, to: to, message: message)
            await session.quit()
            return reply
        } catch {
            await session.client.close()
            throw error
        }
    }
}

extension SMTPTestReply {
    /// The id in `250 2.0.0 Ok: queued as <ID>`.
    var queueID: String? {
        guard code == 250, let last = lines.last, let range = last.range(of: "queued as ") else { return nil }
        return String(last[range.upperBound...]).trimmingCharacters(in: .whitespaces)
    }
}

struct QueueTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: Spool inspection (black box: the documented on-disk format)

enum QueueSpoolFiles {
    /// The metadata of every complete message in `area` (`queue` or `failed`), keyed by id: its
    /// `.json`, or else the trailer at the end of its `.eml` (`<JSON>graph-relay-record v2
    /// NNNNNNNNNN\n`, docs/spool.md).
    static func records(_ spool: String, area: String = "queue") -> [String: [String: Any]] {
        let directory = spool + "/" + area
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var result: [String: [String: Any]] = [:]
        for name in names where name.hasSuffix(".eml") {
            let id = String(name.dropLast(4))
            let data = FileManager.default.contents(atPath: "\(directory)/\(id).json")
                ?? FileManager.default.contents(atPath: "\(directory)/\(name)").flatMap(trailer)
            guard let data, let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
            result[id] = object
        }
        return result
    }

    /// The metadata JSON at the end of a message file, if it has one.
    static func trailer(_ file: Data) -> Data? {
        let footer = 33
        guard file.count > footer else { return nil }
        let tail = file.suffix(footer)
        let text = String(decoding: tail, as: UTF8.self)
        guard text.hasPrefix("graph-relay-record v2 "), let length = Int(text.dropFirst(22).dropLast()),
              length < file.count - footer else { return nil }
        return file.subdata(in: (file.count - footer - length)..<(file.count - footer))
    }

    /// Every file (not directory) in `area`.
    static func files(_ spool: String, area: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: spool + "/" + area)) ?? []).sorted()
    }

    /// The files of messages in `area`: every file but the slots (empty `.eml` files without a
    /// `.json`, made ahead for messages to come; docs/spool.md, "Slots").
    static func messageFiles(_ spool: String, area: String = "queue") -> [String] {
        let names = files(spool, area: area)
        return names.filter { name in
            guard name.hasSuffix(".eml"), !names.contains(String(name.dropLast(4)) + ".json") else { return true }
            let size = (try? FileManager.default.attributesOfItem(atPath: "\(spool)/\(area)/\(name)")[.size] as? Int) ?? nil
            return size.map { $0 > 0 } ?? false
        }
    }
}

// MARK: The relay under test

/// A temporary directory with a spool, a Graph emulator (TLS, the test PKI) and a relay in this
/// process configured with `delivery: queue` towards it. ``stop()`` and ``start()`` restart the
/// relay on the same spool; ``close()`` removes everything.
final class QueueRelayFixture: @unchecked Sendable {
    let directory: String
    let spoolDirectory: String
    let emulator: GraphEmulator
    let capture = QueueLogCapture()
    let yaml: String
    private let lock = NSLock()
    private var service: RelayService?
    private var boundPort = 0

    /// - Parameters:
    ///   - retry: the `spool.retry` mapping.
    ///   - extraYAML: more top-level sections of the relay's configuration (`graph: …`).
    ///   - emulator: last changes to the emulator's configuration.
    init(retry: String = "{ initial: 200ms, maximum: 1s, lifetime: 1h }", extraYAML: String = "",
         admin: String = QueueRelayFixture.defaultAdmin,
         emulator configure: (inout GraphEmulatorConfiguration) -> Void = { _ in }) async throws {
        directory = NSTemporaryDirectory() + "graph-relay-queue-\(UUID().uuidString)"
        spoolDirectory = directory + "/spool"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = GraphEmulatorConfiguration()
        configuration.tls = .server(certificateChain: .file(TestPKI.shared.serverCertificate), privateKey: .file(TestPKI.shared.serverKey))
        configuration.applications = [.init(tenantID: QueueTestApp.tenant, clientID: QueueTestApp.clientID, secrets: [QueueTestApp.secret])]
        configuration.mailboxes = QueueTestRoutes.emulatorMailboxes
        configure(&configuration)
        emulator = try await GraphEmulator.start(configuration: configuration, logger: capture.logger("graph-emulator"))
        yaml = Self.relayYAML(graphURL: emulator.baseURL, spoolDirectory: spoolDirectory, retry: retry, admin: admin, extraYAML: extraYAML)
    }

    /// The relay's configuration for the queue tests: one plain listener on a free port, the
    /// loopback network trusted, the test application at `graphURL` (trusting the test CA), the
    /// shared routes, `delivery: queue`.
    /// The admin listener of the test relays: loopback, a free port, no bearer token.
    static let defaultAdmin = #"{ address: "127.0.0.1:0" }"#

    static func relayYAML(graphURL: String, spoolDirectory: String, retry: String = "{ initial: 200ms, maximum: 1s, lifetime: 1h }",
                          maxMessageSize: String? = nil, admin: String = defaultAdmin, extraYAML: String = "") -> String {
        """
        smtp:
          hostname: relay.queue-e2e.test
          listeners:
            - { address: "127.0.0.1:0" }
        \(maxMessageSize.map { "  maxMessageSize: \($0)" } ?? "")
        access:
          networks: ["127.0.0.0/8"]
        applications:
          - name: \(QueueTestApp.name)
            tenantId: \(QueueTestApp.tenant)
            clientId: \(QueueTestApp.clientID)
            clientSecret: \(QueueTestApp.secret)
            loginEndpoint: \(graphURL)
            graphEndpoint: \(graphURL)
            caFile: \(TestPKI.shared.caCertificate)
        \(QueueTestRoutes.yaml)
        delivery: queue
        spool:
          directory: \(spoolDirectory)
          retry: \(retry)
        scheduler: { concurrencyPerMailbox: 4, messagesPerMinute: 10000 }
        admin: \(admin)
        \(extraYAML)
        """
    }

    /// The running relay's SMTP port.
    var port: Int {
        lock.lock()
        defer { lock.unlock() }
        return boundPort
    }

    var relay: RelayService? {
        lock.lock()
        defer { lock.unlock() }
        return service
    }

    /// Starts a relay on the spool (recovering it). Token-failure pauses are shortened to
    /// 300 ms (doubling up to 1 s) and queue tooling is polled every 100 ms.
    /// `tuning` adjusts the delivery agent further (e.g. a smaller upload budget).
    @discardableResult
    func start(tuning: @escaping @Sendable (inout DeliveryAgentConfiguration) -> Void = { _ in },
               spool spoolTuning: @escaping @Sendable (inout SpoolConfiguration) -> Void = { _ in }) async throws -> RelayService {
        let configuration = try RelayConfiguration.parse(yaml: yaml, baseDirectory: directory, environment: [:], file: "queue-e2e.yaml")
        let service = RelayService(configuration: configuration, logger: capture.logger("graph-relay"))
        service.tokenCheckInterval = .milliseconds(200)
        service.deliveryAgentTuning = { agent in
            agent.scheduler.tokenFailurePause = .milliseconds(300)
            agent.scheduler.tokenFailureMaximumPause = .seconds(1)
            agent.kickPollInterval = .milliseconds(100)
            tuning(&agent)
        }
        service.spoolTuning = spoolTuning
        do {
            let listeners = try await service.start()
            lock.withLock {
                self.service = service
                boundPort = listeners.first?.port ?? 0
            }
        } catch {
            await service.shutdown(gracePeriod: .seconds(1))
            throw error
        }
        return service
    }

    /// Shuts the relay down (as SIGTERM does) and forgets it.
    func stop(gracePeriod: TimeAmount = .seconds(1)) async {
        let current = lock.withLock { () -> RelayService? in
            defer { service = nil }
            return service
        }
        await current?.shutdown(gracePeriod: gracePeriod)
    }

    /// Stops the relay and the emulator and removes the directory.
    func close() async {
        await stop()
        await emulator.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Sends one message from `from` to `to`, with the subject given; returns the final reply.
    func send(from: String, to: String = "alice@example.com", subject: String, bodyLines: Int = 20) async throws -> (SMTPTestReply, String) {
        let message = QueueTestMessage.make(from: from, to: to, subject: subject, bodyLines: bodyLines)
        let reply = try await QueueSMTPSession.sendOne(port: port, from: from, to: [to], message: message)
        return (reply, message)
    }

    /// Messages the emulator accepted, by subject.
    func delivered() -> [String: [GraphEmulatorMessage]] {
        Dictionary(grouping: emulator.acceptedMessages) { QueueTestMessage.subject(of: $0.mime) ?? "" }
    }

    /// Waits until the spool's queue is empty (every message delivered or failed).
    func waitForEmptyQueue(timeout: Duration = .seconds(30)) async -> Bool {
        await queueWait(timeout: timeout) { QueueSpoolFiles.records(spoolDirectory).isEmpty && QueueSpoolFiles.messageFiles(spoolDirectory).isEmpty }
    }

    /// Runs `body` with a fixture and always closes it.
    static func with<Result>(
        retry: String = "{ initial: 200ms, maximum: 1s, lifetime: 1h }",
        extraYAML: String = "",
        admin: String = QueueRelayFixture.defaultAdmin,
        emulator configure: (inout GraphEmulatorConfiguration) -> Void = { _ in },
        _ body: (QueueRelayFixture) async throws -> Result
    ) async throws -> Result {
        let fixture = try await QueueRelayFixture(retry: retry, extraYAML: extraYAML, admin: admin, emulator: configure)
        do {
            let result = try await body(fixture)
            await fixture.close()
            return result
        } catch {
            await fixture.close()
            throw error
        }
    }
}
