import Foundation
import GraphEmulator
@testable import GraphRelayGraph
import NIOCore
import Testing

/// The draft path of GraphClient against the emulator over HTTPS: drafts, attachments, upload
/// sessions with their failures, send, and how a lost send answer is resolved.
@Suite("GraphClient drafts ↔ emulator over HTTPS", .timeLimit(.minutes(2)))
struct GraphDraftLoopbackTests {
    typealias F = GraphFixture

    /// Pseudo-random content, eight bytes per step (fast enough in a debug build).
    static func bytes(_ count: Int, seed: UInt8) -> ByteBuffer {
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        var generator = F.SplitMix(seed: UInt64(seed))
        for index in words.indices { words[index] = generator.next() }
        return words.withUnsafeBytes { ByteBuffer(bytes: $0.prefix(count)) }
    }

    func create(_ client: GraphClient, _ message: [UInt8] = F.message()) async throws -> String {
        try await client.createDraft(mailbox: F.mailbox, mime: .bytes(message), logger: F.logger).get()
    }

    /// Upload sessions from 1 MiB instead of Graph's 3 MiB, so that these tests move less data:
    /// the rules are the same.
    static func smallerSessions(_ configuration: inout GraphEmulatorConfiguration) {
        configuration.minimumUploadSessionSize = 1024 * 1024
    }

    @Test("a MIME draft with a small attachment and an uploaded one is sent once, with every byte")
    func draftWithAttachments() async throws {
        try await F.withEmulator(Self.smallerSessions) { emulator in
            var configuration = F.clientConfiguration()
            configuration.uploadChunkSize = 320 * 1024
            configuration.uploadSessionThreshold = 1024 * 1024
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                let id = try await create(client)
                #expect(emulator.draftCount() == 1)
                #expect(try await client.draftState(mailbox: F.mailbox, draftID: id, logger: F.logger).get() == .draft)

                let small = Self.bytes(100_000, seed: 1)
                let note = GraphAttachment(name: "note ü.txt", contentType: "text/plain", size: small.readableBytes)
                try await client.addAttachment(mailbox: F.mailbox, draftID: id, attachment: note, content: .bytes(small), logger: F.logger).get()

                let large = Self.bytes(3 * 320 * 1024 + 100_000, seed: 2)
                let scan = GraphAttachment(name: "scan.pdf", contentType: "application/pdf", size: large.readableBytes,
                                           isInline: false, contentID: "scan@x")
                try await client.uploadAttachment(mailbox: F.mailbox, draftID: id, attachment: scan,
                                                  content: .bytes(large, pieceSize: 70_001), logger: F.logger).get()
                // 1,083,040 bytes in 320 KiB chunks: 4 chunks (the last one shorter).
                #expect(emulator.requestCount(.uploadChunk) == 4)

                let outcome = await client.sendDraft(mailbox: F.mailbox, draftID: id, logger: F.logger)
                #expect(outcome.isAccepted, "\(outcome)")
                #expect(try await client.draftState(mailbox: F.mailbox, draftID: id, logger: F.logger).get() == .notFound)
                #expect(emulator.draftCount() == 0)
                let sent = try #require(emulator.acceptedMessages.first)
                #expect(sent.submission == "mimeDraft")
                #expect(sent.attachments.map(\.name) == ["note ü.txt", "scan.pdf"])
                #expect(sent.attachments.map(\.content) == [Array(small.readableBytesView), Array(large.readableBytesView)])
                #expect(sent.attachments.map(\.via) == ["attachments", "uploadSession"])
                #expect(sent.attachments[1].contentID == "scan@x")
            }
        }
    }

    @Test("failed chunks are resumed from the session's nextExpectedRanges; an expired session is replaced")
    func uploadRecovers() async throws {
        try await F.withEmulator(Self.smallerSessions) { emulator in
            var configuration = F.clientConfiguration()
            configuration.uploadChunkSize = 320 * 1024
            configuration.uploadRetryDelay = .milliseconds(20)
            try await F.withClient(F.application(emulator), configuration: configuration) { client in
                let id = try await create(client)
                let content = Self.bytes(2 * 1024 * 1024, seed: 3)
                emulator.injectFault(.serviceUnavailable(retryAfter: "0"), on: .uploadChunk)
                // Read whole, then no answer. (A connection closed before the chunk was completely
                // sent may instead be retried at once by the HTTP client: nothing reached Graph.)
                emulator.injectFault(.dropAfterRequest, on: .uploadChunk)
                emulator.injectFault(.acceptThenDrop, on: .uploadChunk)  // stored, answer lost: resume after it
                emulator.injectFault(.sessionExpired, on: .uploadChunk)
                let attachment = GraphAttachment(name: "big.bin", contentType: "application/octet-stream", size: content.readableBytes)
                let result = await client.uploadAttachment(mailbox: F.mailbox, draftID: id, attachment: attachment,
                                                           content: .bytes(content), logger: F.logger)
                #expect(throws: Never.self) { try result.get() }
                #expect(emulator.requestCount(.createUploadSession) == 2)
                #expect(emulator.requestCount(.uploadStatus) == 3)
                #expect(await client.sendDraft(mailbox: F.mailbox, draftID: id, logger: F.logger).isAccepted)
                #expect(emulator.acceptedMessages.first?.attachments.first?.content == Array(content.readableBytesView))
            }
        }
    }

    @Test("Graph's rules are enforced by the emulator: no Authorization on the upload URL, 3 MB minimum, 320 KiB chunks")
    func emulatorRules() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                let id = try await create(client)
                let tiny = GraphAttachment(name: "a", contentType: "text/plain", size: 1000)
                let refused = await client.uploadAttachment(mailbox: F.mailbox, draftID: id, attachment: tiny,
                                                            content: .bytes(Self.bytes(1000, seed: 1)), logger: F.logger)
                #expect(refused.failureValue?.errorCode == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize")
                #expect(refused.failureValue?.isPermanent == true)
                // A client that sends chunks of the wrong size is refused; so is one that authorizes.
                var settings = F.clientConfiguration().http
                settings.tls.additionalTrustRoots.append(.file(F.pki.caCertificate))
                let http = try HTTPClient(configuration: settings)
                let token = try await client.tokenProvider.accessToken(logger: F.logger).value
                let sessionURL = try HTTPURL("\(emulator.baseURL)/v1.0/users/\(F.mailbox)/messages/\(id)/attachments/createUploadSession")
                let session = try await http.execute(HTTPClientRequest(
                    method: .POST, url: sessionURL, headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
                    body: .bytes(ByteBuffer(string: #"{"AttachmentItem":{"attachmentType":"file","name":"x","size":4000000}}"#))), logger: F.logger)
                let uploadURL = try HTTPURL(try #require(GraphClient.json(session.body)?["uploadUrl"] as? String))
                let odd = try await http.execute(HTTPClientRequest(method: .PUT, url: uploadURL, headers: ["Content-Range": "bytes 0-99999/4000000"],
                                                                   body: .bytes(Self.bytes(100_000, seed: 1))), logger: F.logger)
                #expect(odd.status == .badRequest)
                let authorized = try await http.execute(HTTPClientRequest(
                    method: .PUT, url: uploadURL, headers: ["Content-Range": "bytes 0-327679/4000000", "Authorization": "Bearer \(token)"],
                    body: .bytes(Self.bytes(327_680, seed: 1))), logger: F.logger)
                #expect(authorized.status == .unauthorized)
                let good = try await http.execute(HTTPClientRequest(method: .PUT, url: uploadURL, headers: ["Content-Range": "bytes 0-327679/4000000"],
                                                                    body: .bytes(Self.bytes(327_680, seed: 1))), logger: F.logger)
                #expect(good.status == .ok)
                #expect(GraphClient.json(good.body)?["nextExpectedRanges"] as? [String] == ["327680-"])
                await http.shutdown()
            }
        }
    }

    @Test("a lost send answer: the draft is gone (sent), so the caller knows it was delivered once")
    func lostSendAnswer() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                let id = try await create(client)
                emulator.injectFault(.acceptThenDrop, on: .sendDraft)
                let outcome = await client.sendDraft(mailbox: F.mailbox, draftID: id, logger: F.logger)
                #expect(outcome.failure?.ambiguous == true)
                #expect(try await client.draftState(mailbox: F.mailbox, draftID: id, logger: F.logger).get() == .notFound)
                #expect(emulator.acceptedMessages.count == 1)
                // A second send of the same draft cannot send it again.
                let again = await client.sendDraft(mailbox: F.mailbox, draftID: id, logger: F.logger)
                #expect(again.failure?.status == 404)
                #expect(emulator.acceptedMessages.count == 1)
            }
        }
    }

    @Test("drafts can be found by Message-ID and deleted; deleting one that is gone succeeds")
    func findAndDelete() async throws {
        try await F.withEmulator { emulator in
            try await F.withClient(F.application(emulator)) { client in
                let message = F.message()
                let id = try await create(client, message)
                let messageID = try #require(String(decoding: message, as: UTF8.self).split(separator: "\r\n")
                    .first { $0.lowercased().hasPrefix("message-id:") }).dropFirst(11).trimmingCharacters(in: .whitespaces)
                #expect(try await client.findDrafts(mailbox: F.mailbox, internetMessageID: messageID, logger: F.logger).get() == [id])
                #expect(try await client.findDrafts(mailbox: F.mailbox, internetMessageID: "<o'ther@x>", logger: F.logger).get() == [])
                try await client.deleteDraft(mailbox: F.mailbox, draftID: id, logger: F.logger).get()
                try await client.deleteDraft(mailbox: F.mailbox, draftID: id, logger: F.logger).get()
                #expect(emulator.draftCount() == 0)
            }
        }
    }

    @Test("without Mail.ReadWrite the draft path fails permanently, naming the permission")
    func missingPermission() async throws {
        try await F.withEmulator({ $0.applications[0].permissions = ["Mail.Send"] }) { emulator in
            try await F.withClient(F.application(emulator)) { client in
                let result = await client.createDraft(mailbox: F.mailbox, mime: .bytes(F.message()), logger: F.logger)
                let failure = try #require(result.failureValue)
                #expect(failure.status == 403 && failure.isPermanent)
                #expect(failure.message.contains("Mail.ReadWrite"))
            }
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
