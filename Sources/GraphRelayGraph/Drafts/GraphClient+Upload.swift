import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension GraphClient {
    /// Adds an attachment of 3 to 150 MB to a draft through an upload session:
    /// `createUploadSession`, then `PUT`s of byte ranges to the session's `uploadUrl` (which carries
    /// its own authorization: no `Authorization` header is sent there), resuming from the
    /// session's `nextExpectedRanges` after a failed chunk and opening a new session when one
    /// expires (``GraphUploadStateMachine``). One chunk (``GraphClientConfiguration/uploadChunkSize``)
    /// is held in memory at a time.
    public func uploadAttachment(mailbox: String, draftID: String, attachment: GraphAttachment, content: GraphContentSource,
                                 logger: Logger) async -> DraftResult<Void> {
        var logger = logger
        logger[metadataKey: "graph.attachment"] = "\(attachment.name)"
        guard content.byteCount == attachment.size else {
            return .failure(GraphSendFailure(kind: .localError, mailbox: mailbox,
                message: "attachment \(attachment) has \(content.byteCount) bytes of content"))
        }
        var machine = GraphUploadStateMachine(size: attachment.size, chunkSize: configuration.uploadChunkSize,
                                              retryDelay: configuration.uploadRetryDelay)
        var reader = ContentCursor(content)
        var uploadURL: HTTPURL?
        var action = machine.start()
        let started = ContinuousClock.now
        var chunks = 0
        while true {
            switch action {
            case .createSession:
                switch await createUploadSession(mailbox: mailbox, draftID: draftID, attachment: attachment, logger: logger) {
                case .success(let (url, ranges)):
                    uploadURL = url
                    action = machine.sessionCreated(nextExpected: ranges)
                case .failure(let failure):
                    action = machine.sessionFailed(failure)
                }
            case .upload(let range):
                let chunk: ByteBuffer
                do {
                    chunk = try await reader.read(range)
                } catch {
                    return .failure(GraphSendFailure(kind: .localError, mailbox: mailbox,
                                                     message: "cannot read attachment \(attachment.name): \(error)"))
                }
                chunks += 1
                let (result, gone) = await putChunk(chunk, range: range, total: attachment.size, to: uploadURL!, mailbox: mailbox, logger: logger)
                switch result {
                case .success(let (complete, ranges)):
                    action = machine.chunkSucceeded(complete: complete, nextExpected: ranges)
                case .failure(let failure):
                    action = machine.chunkFailed(failure, sessionGone: gone)
                }
            case .queryStatus(let delay):
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return .failure(GraphSendFailure(kind: .localError, mailbox: mailbox, message: "cancelled during the upload"))
                }
                let (result, gone) = await sessionStatus(uploadURL!, mailbox: mailbox, logger: logger)
                switch result {
                case .success(let ranges): action = machine.statusReceived(nextExpected: ranges)
                case .failure(let failure): action = machine.statusFailed(failure, sessionGone: gone)
                }
            case .finished:
                logger.debug("attachment uploaded", metadata: [
                    "graph.bytes": "\(attachment.size)", "graph.chunks": "\(chunks)",
                    "graph.duration-ms": "\((ContinuousClock.now - started).milliseconds)",
                ])
                return .success(())
            case .failed(var failure):
                if failure.mailbox.isEmpty { failure.mailbox = mailbox }
                return .failure(failure)
            }
        }
    }

    private func createUploadSession(mailbox: String, draftID: String, attachment: GraphAttachment,
                                     logger: Logger) async -> DraftResult<(HTTPURL, [String])> {
        var item: [String: Any] = [
            "attachmentType": "file", "name": attachment.name, "size": attachment.size,
            "contentType": attachment.contentType, "isInline": attachment.isInline,
        ]
        if let contentID = attachment.contentID { item["contentId"] = contentID }
        let body = (try? JSONSerialization.data(withJSONObject: ["AttachmentItem": item], options: [.sortedKeys])) ?? Data()
        let answer = await request("createUploadSession", mailbox: mailbox, method: .POST,
                                   url: messageURL(mailbox, draftID, "/attachments/createUploadSession"),
                                   headers: ["Content-Type": "application/json"], body: .bytes(ByteBuffer(bytes: body)),
                                   timeout: configuration.http.requestTimeout, logger: logger)
        switch check(answer, "createUploadSession", mailbox: mailbox, expecting: [201, 200], draft: true, logger: logger) {
        case .failure(let failure):
            return .failure(failure)
        case .success(let response):
            let json = Self.json(response.body)
            guard let text = json?["uploadUrl"] as? String, let url = try? HTTPURL(text),
                url.endpoint.scheme == .https || graphRoot.endpoint.scheme == .http
            else {
                return .failure(GraphSendFailure(kind: .transient, mailbox: mailbox, status: Int(response.status.code),
                                                 message: "Graph's upload session has no usable https uploadUrl",
                                                 requestID: response.headers.first(name: "request-id")))
            }
            return .success((url, (json?["nextExpectedRanges"] as? [String]) ?? ["0-"]))
        }
    }

    /// `PUT` one chunk. Returns whether the attachment is complete (201) and the next expected
    /// ranges, or the failure and whether the session is gone (404).
    private func putChunk(_ chunk: ByteBuffer, range: Range<Int>, total: Int, to url: HTTPURL, mailbox: String,
                          logger: Logger) async -> (DraftResult<(Bool, [String])>, Bool) {
        let headers: HTTPHeaders = [
            "Content-Type": "application/octet-stream",
            "Content-Range": "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(total)",
        ]
        let answer = await request("uploadChunk", mailbox: mailbox, method: .PUT, url: url, headers: headers, body: .bytes(chunk),
                                   timeout: configuration.sendMailTimeout, authorized: false, logger: logger)
        let gone = Self.isNotFound(answer)
        return (check(answer, "uploadChunk", mailbox: mailbox, expecting: [200, 201, 202], logger: logger).map { response in
            (response.status == .created, (Self.json(response.body)?["nextExpectedRanges"] as? [String]) ?? [])
        }, gone)
    }

    /// `GET` the session: its next expected ranges.
    private func sessionStatus(_ url: HTTPURL, mailbox: String, logger: Logger) async -> (DraftResult<[String]>, Bool) {
        let answer = await request("uploadStatus", mailbox: mailbox, method: .GET, url: url,
                                   timeout: configuration.http.requestTimeout, authorized: false, logger: logger)
        let gone = Self.isNotFound(answer)
        return (check(answer, "uploadStatus", mailbox: mailbox, expecting: [200], logger: logger).map { response in
            (Self.json(response.body)?["nextExpectedRanges"] as? [String]) ?? []
        }, gone)
    }

    private static func isNotFound(_ answer: GraphAnswer) -> Bool {
        if case .answered(let response, _, _) = answer { return response.status == .notFound }
        return false
    }
}

/// Reads byte ranges of a ``GraphContentSource`` front to back; going back starts a new reader.
private struct ContentCursor {
    let source: GraphContentSource
    var reader: any GraphContentReader
    /// Read and not yet handed out; its first byte is at ``position`` of the content.
    var buffered = ByteBuffer()
    var position = 0

    init(_ source: GraphContentSource) {
        self.source = source
        self.reader = source.makeReader()
    }

    mutating func read(_ range: Range<Int>) async throws -> ByteBuffer {
        if range.lowerBound < position {
            reader = source.makeReader()
            buffered = ByteBuffer()
            position = 0
        }
        while position < range.lowerBound {
            guard try await fill() else { throw ended() }
            let skip = min(range.lowerBound - position, buffered.readableBytes)
            buffered.moveReaderIndex(forwardBy: skip)
            position += skip
        }
        var chunk = ByteBuffer()
        chunk.reserveCapacity(range.count)
        while chunk.readableBytes < range.count {
            guard try await fill() else { throw ended() }
            var piece = buffered.readSlice(length: min(range.count - chunk.readableBytes, buffered.readableBytes))!
            chunk.writeBuffer(&piece)
        }
        position = range.upperBound
        return chunk
    }

    /// Makes sure something is buffered; false at the end of the content.
    private mutating func fill() async throws -> Bool {
        while buffered.readableBytes == 0 {
            guard let piece = try await reader.next() else { return false }
            buffered = piece
        }
        return true
    }

    private func ended() -> GraphMessageSourceError {
        GraphMessageSourceError("the content ended at byte \(position) of the announced \(source.byteCount)")
    }
}
