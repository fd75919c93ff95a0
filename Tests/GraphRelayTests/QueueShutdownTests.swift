import Foundation
import GraphEmulator
import GraphRelayTestSupport
import Testing
@testable import GraphRelay

/// Graceful shutdown (what SIGTERM does: `RelayService.shutdown`) while deliveries are in flight:
/// they are finished or released back to the queue, and a restarted relay delivers every message.
@Suite("Queue: graceful shutdown with deliveries in flight")
struct QueueShutdownTests {
    @Test("shutdown releases in-flight deliveries; after a restart every accepted message is delivered")
    func shutdownThenRestart() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            let emulator = fixture.emulator
            // Graph stores the first four messages but answers only after 30 s: those deliveries are
            // still under way when the relay is stopped, however slow the machine.
            emulator.injectSendMailFault(.delay(.seconds(30)), count: 4)
            var accepted: [(subject: String, id: String, message: String)] = []
            let session = try await QueueSMTPSession.open(port: fixture.port)
            for index in 0..<10 {
                let subject = "shutdown-\(index)"
                let message = QueueTestMessage.make(from: "scanner@printer.test", to: "alice@example.com", subject: subject, messageID: index % 2 == 0)
                let reply = try await session.send(from: "scanner@printer.test", to: ["alice@example.com"], message: message)
                let id = try #require(reply.queueID, "\(subject): \(reply)")
                accepted.append((subject, id, message))
            }
            await session.quit()
            let inFlight = await queueWait(timeout: .seconds(10)) {
                // (An attempt under way is no longer written into the metadata file: it is a line
                // of attempts.log, see docs/spool.md. Graph having the four requests is enough.)
                emulator.sendMailRequestCount >= 4
            }
            #expect(inFlight, "deliveries did not start; log:\n\(fixture.capture.tail())")
            let deliveredBeforeStop = emulator.acceptedMessages.count

            // SIGTERM: stop accepting, release what is still being sent (grace period shorter than Graph's delay).
            await fixture.stop(gracePeriod: .milliseconds(500))
            let released = fixture.capture.entries(containing: "released back to the queue")
            #expect(released.count == 4, "log:\n\(fixture.capture.tail())")
            let afterStop = QueueSpoolFiles.records(fixture.spoolDirectory)
            // Graph had not answered any of them: all ten are still queued.
            #expect(afterStop.count == 10, "queue after shutdown: \(afterStop.count) messages")
            #expect(afterStop.values.allSatisfy { $0["state"] as? String == "queued" }, "nothing may stay 'delivering'")
            let releasedIDs = afterStop.filter { ($0.value["ambiguousAttempts"] as? Int ?? 0) >= 1 }.map(\.key)
            #expect(releasedIDs.count == 4, "released deliveries are counted as ambiguous attempts")
            #expect(QueueSpoolFiles.files(fixture.spoolDirectory, area: "tmp").filter { !$0.hasSuffix(".spare") }.isEmpty)

            // A new relay on the same spool delivers everything.
            emulator.clearFaults()
            try await fixture.start()
            let drained = await fixture.waitForEmptyQueue(timeout: .seconds(30))
            #expect(drained, "log:\n\(fixture.capture.tail())")
            let delivered = fixture.delivered()
            var duplicates = 0
            for (subject, _, original) in accepted {
                let copies = delivered[subject] ?? []
                #expect(!copies.isEmpty, "\(subject) was accepted with 250 but never delivered")
                if copies.count > 1 {
                    // Released deliveries are retried with the very same bytes (the same Message-ID).
                    #expect(Set(copies.map(\.mime)).count == 1, "\(subject): copies differ")
                    duplicates += copies.count - 1
                }
                if original.contains("Message-ID:") {
                    #expect(copies.allSatisfy { QueueTestMessage.isIntact($0.mime, original: original) }, "\(subject) altered")
                } else {
                    #expect(copies.allSatisfy { QueueTestMessage.header("Message-ID", in: $0.mime)?.hasSuffix("@relay.queue-e2e.test>") == true },
                            "\(subject): a Message-ID is added at acceptance")
                }
            }
            // The emulator stored the slow ones before answering: those come twice (at-least-once).
            #expect(duplicates == deliveredBeforeStop)
            #expect(QueueSpoolFiles.files(fixture.spoolDirectory, area: "failed").isEmpty)
        }
    }

    @Test("a relay that was shut down releases its spool: a new relay opens it while the old object still exists")
    func shutdownReleasesTheSpoolLock() async throws {
        try await QueueRelayFixture.with { fixture in
            try await fixture.start()
            let (reply, _) = try await fixture.send(from: "scanner@printer.test", subject: "lock-1")
            #expect(reply.code == 250, "\(reply)")
            let old = try #require(fixture.relay)
            await fixture.stop()
            // `old` is still referenced (an embedding application, a supervisor restarting the
            // relay in-process): Spool.close() is documented to release the server lock.
            try await fixture.start()
            let (second, _) = try await fixture.send(from: "scanner@printer.test", subject: "lock-2")
            #expect(second.code == 250, "\(second)")
            #expect(await fixture.waitForEmptyQueue())
            #expect(Set(fixture.delivered().keys) == ["lock-1", "lock-2"])
            withExtendedLifetime(old) {}
        }
    }
}
