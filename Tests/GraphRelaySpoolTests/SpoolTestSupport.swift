import Foundation
import Logging
import NIOCore
import Testing

@testable import GraphRelaySpool

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "spool") {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/graph-relay-\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func files(_ sub: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(path)/\(sub)")) ?? []).sorted()
    }

    /// Every regular file below the directory with its bytes (as Latin-1 text), and the
    /// permission bits of every file and directory below it (not of the directory itself).
    func allFileContents() throws -> (contents: [(String, String)], modes: [(String, UInt32)]) {
        var contents: [(String, String)] = []
        var modes: [(String, UInt32)] = []
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            let full = "\(path)/\(relative)"
            var info = stat()
            guard lstat(full, &info) == 0 else { continue }
            modes.append((relative, UInt32(info.st_mode) & 0o777))
            if info.st_mode & S_IFMT == S_IFREG {
                let data = try Data(contentsOf: URL(fileURLWithPath: full))
                contents.append((relative, String(decoding: data.map { $0 < 0x80 ? $0 : 0x3F }, as: UTF8.self)))
            }
        }
        return (contents, modes)
    }
}

let quietLogger: Logger = {
    if ProcessInfo.processInfo.environment["SPOOL_TEST_LOG"] != nil {
        var logger = Logger(label: "test.spool", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .trace
        return logger
    }
    var logger = Logger(label: "test.spool", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    return logger
}()

/// Opens a spool in a new temporary directory, runs `body`, closes and removes it.
func withSpool<T>(
    configuration: SpoolConfiguration = SpoolConfiguration(),
    _ body: (Spool, TemporaryDirectory) async throws -> T
) async throws -> T {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    let spool = try Spool(directory: directory.path, configuration: configuration, logger: quietLogger)
    do {
        let result = try await body(spool, directory)
        await spool.close()
        return result
    } catch {
        await spool.close()
        throw error
    }
}

func envelope(
    sender: String = "scanner@printer.local",
    recipients: [String] = ["alice@contoso.com"],
    application: String = "contoso",
    mailbox: String = "noreply@contoso.com",
    receivedAt: Date = Date()
) -> SpoolEnvelope {
    SpoolEnvelope(
        sender: sender,
        recipients: recipients,
        route: SpoolRoute(application: application, mailbox: mailbox, rewriteFrom: true),
        receivedAt: receivedAt,
        attributes: ["client": "10.0.0.5"]
    )
}

/// A message whose bytes are a function of `seed` and `size` (so a reader can check them).
func sampleMessage(seed: Int, size: Int, messageID: String? = nil) -> [UInt8] {
    var header = "Received: from printer (10.0.0.5)\r\nFrom: Scanner <scanner@printer.local>\r\nTo: alice@contoso.com\r\n"
    header += "Subject: scan \(seed)\r\n"
    header += "Message-ID: \(messageID ?? "<scan-\(seed)@printer.local>")\r\n\r\n"
    var bytes = Array(header.utf8)
    var state = UInt64(truncatingIfNeeded: seed) &* 6364136223846793005 &+ 1442695040888963407
    while bytes.count < size {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let letter = UInt8(ascii: "a") + UInt8((state >> 33) % 26)
        bytes.append(letter)
        if bytes.count % 78 == 76 { bytes += [13, 10] }
    }
    return Array(bytes.prefix(max(size, header.utf8.count)))
}

/// Writes a whole message through a writer, in chunks of `chunk` bytes.
@discardableResult
func spoolMessage(_ spool: Spool, _ bytes: [UInt8], envelope: SpoolEnvelope = envelope(), chunk: Int = 1000) async throws -> SpoolRecord {
    let writer = try spool.makeWriter()
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + chunk, bytes.count)
        try await writer.append(ByteBuffer(bytes: bytes[offset..<end]))
        offset = end
    }
    return try await writer.commit(envelope)
}

func readAll(_ message: SpooledMessage) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    for try await chunk in message.bodyChunks() {
        bytes += chunk.readableBytesView
    }
    return bytes
}

/// Waits (at most `timeout` seconds of real time) until `condition` holds.
func eventually(timeout: Double = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return try await condition()
}

/// A clock moved by hand. Sleepers wake when the time passes their deadline.
final class ManualClock: SpoolClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    private var sleepers: [UUID: (deadline: Date, continuation: CheckedContinuation<Void, any Error>)] = [:]

    /// Starts an hour ahead of real time (whole seconds), so messages stamped with the real time are
    /// due at once.
    init(_ start: Date = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down) + 3600)) {
        current = start
    }

    func now() -> Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    var sleeperCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return sleepers.count
    }

    /// The earliest deadline anyone sleeps until.
    var nextDeadline: Date? {
        lock.lock()
        defer { lock.unlock() }
        return sleepers.values.map(\.deadline).min()
    }

    func advance(by seconds: Double) {
        advance(to: now().addingTimeInterval(seconds))
    }

    func advance(to time: Date) {
        lock.lock()
        current = max(current, time)
        let due = sleepers.filter { $0.value.deadline <= current }
        for key in due.keys { sleepers[key] = nil }
        lock.unlock()
        for (_, sleeper) in due { sleeper.continuation.resume() }
    }

    func sleep(until deadline: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                lock.lock()
                if deadline <= current || Task.isCancelled {
                    let cancelled = Task.isCancelled
                    lock.unlock()
                    if cancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                    return
                }
                sleepers[id] = (deadline, continuation)
                lock.unlock()
            }
        } onCancel: {
            lock.lock()
            let sleeper = sleepers.removeValue(forKey: id)
            lock.unlock()
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
