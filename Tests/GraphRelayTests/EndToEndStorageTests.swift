import Foundation
@testable import GraphRelay
import GraphRelayTestSupport
import Testing

/// Where messages being received are kept, and what happens when the disk is nearly full.
@Suite("End to end: storage of messages being received", .timeLimit(.minutes(1)))
struct EndToEndStorageTests {
    static func message(size: Int = 0) -> EndToEndMessage {
        var message = EndToEndMessage(from: "alice@\(EndToEnd.domain)", to: ["bob@example.net"],
                                      text: "From: alice@\(EndToEnd.domain)\r\nTo: bob@example.net\r\nSubject: space\r\n\r\nx\r\n")
        if size > 0 { message.mailOptions = ["SIZE=\(size)"] }
        return message
    }

    @Test("spool.minimumFreeSpace above the free space: MAIL FROM gets 452 4.3.1, nothing reaches Graph (smtplib)")
    func minimumFreeSpace() async throws {
        let available = try #require(StorageSpace.available(in: NSTemporaryDirectory()))
        var full = EndToEndSetup()
        full.spoolKeys = ["minimumFreeSpace: \(available + 1_000_000_000_000)"]
        try await EndToEndRelay.run(full) { harness in
            let results = try await EndToEndClients.smtplib(.starttls, port: harness.starttlsPort, authenticate: false, messages: [Self.message()])
            #expect(results.map(\.status) == ["452 4.3.1"], "\(results)")
            #expect(results.first?.stage == "mail")
            #expect(harness.logs.text.contains("less than spool.minimumFreeSpace"))
            #expect(harness.emulator.sendMailRequestCount == 0)
        }
    }

    @Test("the free-space check counts the announced SIZE and can be turned off")
    func sizeCounts() {
        let room = StorageSpace(directory: "/spool", minimum: 1_000, available: { _ in 5_000 })
        #expect(room.hasRoom(for: nil))
        #expect(room.hasRoom(for: 4_000))
        #expect(!room.hasRoom(for: 4_001))
        #expect(!room.hasRoom(for: Int.max))
        #expect(!StorageSpace(directory: "/spool", minimum: 6_000, available: { _ in 5_000 }).hasRoom(for: nil))
        #expect(StorageSpace(directory: "/spool", minimum: 0, available: { _ in 0 }).hasRoom(for: 1_000_000))
        // A file system that cannot be asked: the writes themselves still fail cleanly.
        #expect(StorageSpace(directory: "/spool", minimum: 1_000, available: { _ in nil }).hasRoom(for: 10))
        #expect(StorageSpace.available(in: "/nonexistent/spool") == nil)
    }

    @Test("a large message being received spills into the spool's tmp/, not /tmp")
    func spillsIntoTheSpool() async throws {
        try await EndToEndRelay.run { harness in
            let spoolTmp = harness.relay.configuration.spool.directory + "/tmp/graph-relay-msg-"
            let client = try await SMTPTestClient.connect(port: harness.starttlsPort)
            #expect(try await client.readReply().code == 220)
            #expect(try await client.command("EHLO spill.test").code == 250)
            #expect(try await client.command("MAIL FROM:<alice@\(EndToEnd.domain)>").code == 250)
            #expect(try await client.command("RCPT TO:<bob@example.net>").code == 250)
            #expect(try await client.command("DATA").code == 354)
            try await client.send("From: alice@\(EndToEnd.domain)\r\nTo: bob@example.net\r\nSubject: spill\r\n\r\n")
            let line = String(repeating: "0123456789", count: 10) + "\r\n"
            for _ in 0..<40 { try await client.send(String(repeating: line, count: 100)) }  // 400 KB, over the 256 KiB kept in memory
            var spilled: [String] = []
            for _ in 0..<200 where spilled.isEmpty {
                spilled = Self.openFiles().filter { $0.hasPrefix(spoolTmp) }
                if spilled.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(!spilled.isEmpty, "no open file under \(spoolTmp): \(Self.openFiles())")
            #expect(spilled.allSatisfy { $0.hasSuffix(" (deleted)") })  // unnamed: unlinked at once
            #expect(try await client.command(".").code == 250)
            await client.close()
        }
    }

    /// The targets of this process's open file descriptors.
    static func openFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
    }
}
