import Foundation
import Logging
import NIOCore

import GraphRelaySpool

/// A fresh directory under the system temp dir, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ name: String = "spool") {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/graph-relay-\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    public func files(_ sub: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(path)/\(sub)")) ?? []).sorted()
    }

    /// Every regular file below the directory with its bytes (as Latin-1 text), and the
    /// permission bits of every file and directory below it (not of the directory itself).
    public func allFileContents() throws -> (contents: [(String, String)], modes: [(String, UInt32)]) {
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

public let quietLogger: Logger = {
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
public func withSpool<T>(
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

public func envelope(
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
public func sampleMessage(seed: Int, size: Int, messageID: String? = nil) -> [UInt8] {
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
public func spoolMessage(_ spool: Spool, _ bytes: [UInt8], envelope: SpoolEnvelope = envelope(), chunk: Int = 1000) async throws -> SpoolRecord {
    let writer = try spool.makeWriter()
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + chunk, bytes.count)
        try await writer.append(ByteBuffer(bytes: bytes[offset..<end]))
        offset = end
    }
    return try await writer.commit(envelope)
}

public func readAll(_ message: SpooledMessage) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    for try await chunk in message.bodyChunks() {
        bytes += chunk.readableBytesView
    }
    return bytes
}

/// Waits (at most `timeout` seconds of real time) until `condition` holds.
public func eventually(timeout: Double = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return try await condition()
}
