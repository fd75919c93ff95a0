import Foundation
import GraphRelaySpoolTestSupport
import NIOCore
import Testing

@testable import GraphRelaySpool

@Suite("Spool operations")
struct SpoolOperationsTests {
    let t0 = Date(timeIntervalSince1970: 1_750_000_000)

    @Test("records cached by the server are used only while their metadata file is unchanged: tooling's changes are seen")
    func recordCacheFollowsTooling() async throws {
        try await withSpool { spool, directory in
            let record = try await spoolMessage(spool, sampleMessage(seed: 1, size: 800))
            #expect(spool.recordCache.count == 1)
            let tool = try Spool(directory: directory.path, mode: .tool, logger: quietLogger)
            let due = Date(timeIntervalSince1970: 1_900_000_000)
            try await tool.retry(record.id, now: due)
            await tool.close()
            let first = try await spool.beginDelivery(record.id)
            #expect(first.record.nextAttemptAt == due)
            #expect(first.record.attempts == 1)
            let later = Date(timeIntervalSince1970: 1_900_000_100)
            try await spool.recordAttempt(record.id, .deferred(nextAttemptAt: later, error: "503", requestId: nil, transientFailure: true, ambiguous: false))
            let second = try await spool.beginDelivery(record.id)
            #expect(second.record.attempts == 2)
            #expect(second.record.transientFailures == 1)
            #expect(second.record.nextAttemptAt == later)
            try await spool.recordAttempt(record.id, .delivered(requestId: nil))
            #expect(spool.recordCache.count == 0)
        }
    }

    @Test("a delivery of a small message gets its bytes with the metadata; a large one reads chunks; a damaged file is refused")
    func preloadsSmallMessages() async throws {
        var configuration = SpoolConfiguration()
        configuration.deliveryPreloadSize = 5000
        try await withSpool(configuration: configuration) { spool, directory in
            let small = try await spoolMessage(spool, sampleMessage(seed: 1, size: 5000))
            let large = try await spoolMessage(spool, sampleMessage(seed: 2, size: 5001))
            let damaged = try await spoolMessage(spool, sampleMessage(seed: 3, size: 3000))

            let first = try await spool.beginDelivery(small.id)
            #expect(first.contents.map { Array($0.readableBytesView) } == sampleMessage(seed: 1, size: 5000))
            let second = try await spool.beginDelivery(large.id)
            #expect(second.contents == nil)
            #expect(try await readAll(second) == sampleMessage(seed: 2, size: 5001))

            #expect(truncate("\(directory.path)/queue/\(damaged.id).eml", 2999) == 0)
            await #expect {
                try await spool.beginDelivery(damaged.id)
            } throws: { error in
                guard case .corrupt(_, let reason) = error as? SpoolError else { return false }
                return reason.contains("2999 bytes instead of 3000")
            }
        }
    }

    @Test("delivery bookkeeping: begin, defer, release, deliver")
    func bookkeeping() async throws {
        try await withSpool { spool, directory in
            let record = try await spoolMessage(spool, sampleMessage(seed: 1, size: 500))
            let started = try await spool.beginDelivery(record.id, now: t0)
            #expect(started.record.state == .delivering)
            #expect(started.record.attempts == 1)
            #expect(started.record.lastAttemptAt == t0)

            let deferred = try #require(try await spool.recordAttempt(
                record.id,
                .deferred(nextAttemptAt: t0.addingTimeInterval(300), error: "503 Service Unavailable", requestId: "req-1", transientFailure: true, ambiguous: true),
                now: t0
            ))
            #expect(deferred.state == .queued)
            #expect(deferred.nextAttemptAt == t0.addingTimeInterval(300))
            #expect(deferred.lastError == "503 Service Unavailable")
            #expect(deferred.lastRequestId == "req-1")
            #expect(deferred.transientFailures == 1)
            #expect(deferred.ambiguousAttempts == 1)

            _ = try await spool.beginDelivery(record.id, now: t0.addingTimeInterval(300))
            let released = try #require(try await spool.recordAttempt(record.id, .released, now: t0.addingTimeInterval(301)))
            #expect(released.state == .queued)
            #expect(released.attempts == 2)
            #expect(released.nextAttemptAt == t0.addingTimeInterval(301))

            _ = try await spool.beginDelivery(record.id)
            #expect(try await spool.recordAttempt(record.id, .delivered(requestId: "req-2")) == nil)
            #expect(directory.files("queue").isEmpty)
            await #expect(throws: SpoolError.notFound(record.id)) { try await spool.beginDelivery(record.id) }
            await #expect(throws: SpoolError.notFound(record.id)) { try await spool.recordAttempt(record.id, .released) }
        }
    }

    @Test("failure moves the message to failed/ with the reason; retry takes it back with a fresh lifetime")
    func failAndRetry() async throws {
        try await withSpool { spool, directory in
            let bytes = sampleMessage(seed: 2, size: 800)
            let record = try await spoolMessage(spool, bytes)
            _ = try await spool.beginDelivery(record.id, now: t0)
            let bounce = QueueID.make()
            let failed = try #require(try await spool.recordAttempt(
                record.id,
                .failed(reason: "mailbox unknown", status: "5.1.1", requestId: "req-9", bounceId: bounce, bounceSuppressed: nil),
                now: t0
            ))
            #expect(failed.state == .failed)
            #expect(failed.failureReason == "mailbox unknown")
            #expect(failed.failureStatus == "5.1.1")
            #expect(failed.lastRequestId == "req-9")
            #expect(failed.bounceId == bounce)
            #expect(failed.failedAt == t0)
            #expect(directory.files("queue").isEmpty)
            #expect(directory.files("failed") == ["\(record.id).eml", "\(record.id).json"])
            #expect(try await spool.list(.failed) == [failed])
            let fromFailed = try await spool.message(record.id)
            #expect(fromFailed.area == .failed)
            #expect(try await readAll(fromFailed) == bytes)

            let later = t0.addingTimeInterval(86400)
            let retried = try await spool.retry(record.id, now: later)
            #expect(retried.state == .queued)
            #expect(retried.nextAttemptAt == later)
            #expect(retried.lifetimeStartedAt == later)
            #expect(retried.failureReason == nil)
            #expect(retried.attempts == 1)
            #expect(directory.files("failed").isEmpty)
            #expect(try await spool.list(.queue) == [retried])
            #expect(try await readAll(spool.message(record.id)) == bytes)
        }
    }

    @Test("retry one or all makes queued messages due now; delete removes queued and failed ones")
    func retryAndDelete() async throws {
        try await withSpool { spool, directory in
            var ids: [QueueID] = []
            for seed in 0..<3 {
                let record = try await spoolMessage(spool, sampleMessage(seed: seed, size: 300))
                _ = try await spool.beginDelivery(record.id, now: t0)
                try await spool.recordAttempt(
                    record.id,
                    .deferred(nextAttemptAt: t0.addingTimeInterval(3600), error: "x", requestId: nil, transientFailure: true, ambiguous: false)
                )
                ids.append(record.id)
            }
            let now = t0.addingTimeInterval(10)
            #expect(try await spool.retry(ids[0], now: now).nextAttemptAt == now)
            #expect(try await spool.retryAll(now: now.addingTimeInterval(1)) == 3)
            #expect(try await spool.list().allSatisfy { $0.nextAttemptAt == now.addingTimeInterval(1) && $0.transientFailures == 1 })

            try await spool.delete(ids[1])
            #expect(try await spool.list().map(\.id) == [ids[0], ids[2]])
            try await spool.recordAttempt(ids[2], .failed(reason: "r", status: "5.0.0", requestId: nil, bounceId: nil, bounceSuppressed: "disabled"))
            try await spool.delete(ids[2])
            #expect(directory.files("failed").isEmpty)
            await #expect(throws: SpoolError.notFound(ids[1])) { try await spool.delete(ids[1]) }
            await #expect(throws: SpoolError.notFound(ids[1])) { try await spool.retry(ids[1]) }
            await #expect(throws: SpoolError.notFound(ids[1])) { try await spool.message(ids[1]) }
        }
    }

    @Test("tooling in another Spool instance works beside the server without losing updates")
    func toolingBesideServer() async throws {
        try await withSpool { server, directory in
            let tool = try Spool(directory: directory.path, mode: .tool, logger: quietLogger)
            let records = try await (0..<10).asyncMap { try await spoolMessage(server, sampleMessage(seed: $0, size: 400)) }
            #expect(try await tool.list().map(\.id) == records.map(\.id))
            #expect(server.kickStamp() == nil)

            // The server records attempts while the tool retries the same messages: every
            // read-modify-write holds the message lock, so no attempt count is lost.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for record in records {
                    group.addTask {
                        for _ in 0..<5 {
                            _ = try await server.beginDelivery(record.id)
                            try await server.recordAttempt(
                                record.id,
                                .deferred(nextAttemptAt: Date().addingTimeInterval(600), error: "e", requestId: nil, transientFailure: true, ambiguous: false)
                            )
                        }
                    }
                    group.addTask {
                        for _ in 0..<5 { try await tool.retry(record.id) }
                    }
                }
                try await group.waitForAll()
            }
            for record in try await tool.list() {
                #expect(record.attempts == 5)
                #expect(record.transientFailures == 5)
                #expect(record.state == .queued)
            }
            #expect(server.kickStamp() != nil)
            try await tool.delete(records[0].id)
            await #expect(throws: SpoolError.notFound(records[0].id)) { try await server.beginDelivery(records[0].id) }
            await tool.close()
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

@Suite("Queue tooling output")
struct SpoolRecordDisplayTests {
    @Test("list columns and show lines carry what an operator needs")
    func display() throws {
        let received = Date(timeIntervalSince1970: 1_750_000_000)
        var record = SpoolRecord(id: try QueueID.parse("01K11R02YXSRSH8NM5"), envelope: envelope(recipients: ["a@x.com", "b@x.com"], receivedAt: received), size: 42, messageId: "<m@x>")
        record.attempts = 3
        record.lastError = "503 Service\r\nUnavailable"
        record.nextAttemptAt = received.addingTimeInterval(7200 + 600)
        #expect(record.listColumns(now: received.addingTimeInterval(7200)) == [
            "01K11R02YXSRSH8NM5", "2h", "scanner@printer.local", "noreply@contoso.com", "a@x.com,b@x.com", "3", "in 10m", "503 Service Unavailable",
        ])
        record.sender = ""
        record.state = .failed
        record.failureStatus = "5.1.1"
        #expect(record.listColumns(now: received)[2] == "<>")
        #expect(record.listColumns(now: received)[6] == "failed 5.1.1")
        let lines = record.showLines()
        #expect(lines.contains("message-id: <m@x>"))
        #expect(lines.contains("client: 10.0.0.5"))
        #expect(lines.contains("received: 2025-06-15T15:06:40.000Z"))
        #expect(throws: SpoolError.invalidQueueID("nope")) { try QueueID.parse("nope") }
        #expect(SpoolRecord.listHeader.count == record.listColumns().count)
    }

    @Test("client-supplied values reach the terminal escaped: CR, LF, ESC and NUL")
    func escaping() throws {
        let received = Date(timeIntervalSince1970: 1_750_000_000)
        var record = SpoolRecord(id: try QueueID.parse("01K11R02YXSRSH8NM5"),
                                 envelope: envelope(recipients: ["a@x.com\u{1B}[2J"], receivedAt: received), size: 42,
                                 messageId: "<m@x>\r\nstate: delivered\0")
        record.sender = "evil\u{1B}]0;pwned\u{07}@x.com"
        record.lastError = "Graph said \u{1B}[31mno"
        let text = (record.showLines() + record.listColumns(now: received)).joined(separator: "\n")
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(record.showLines().contains(#"message-id: <m@x>\r\nstate: delivered\0"#))
        #expect(record.showLines().contains(#"sender: evil\x1B]0;pwned\x07@x.com"#))
        #expect(record.listColumns(now: received)[4] == #"a@x.com\x1B[2J"#)
    }
}
