import Logging
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection (possibly TLS, possibly through a proxy tunnel), ready for requests.
/// It runs one request at a time; ``HTTPConnectionPool`` makes sure of that.
final class HTTP1Connection: Sendable {
    let id: Int
    let endpoint: HTTPEndpoint
    let channel: any Channel
    private let handler: NIOLoopBound<HTTP1ClientHandler>

    init(id: Int, endpoint: HTTPEndpoint, channel: any Channel, handler: NIOLoopBound<HTTP1ClientHandler>) {
        self.id = id
        self.endpoint = endpoint
        self.channel = channel
        self.handler = handler
    }

    var isActive: Bool { channel.isActive }

    /// Sends the request and collects the response. Any failure closes the connection.
    func execute(_ request: HTTPClientRequest, head: HTTPRequestHead, timeout: TimeAmount) async throws(HTTPClientError) -> HTTP1ClientHandler.Result {
        let loop = channel.eventLoop
        let handler = self.handler
        let promise = loop.makePromise(of: HTTP1ClientHandler.Result.self)
        let bodyLength = request.body?.length
        do {
            return try await withTaskCancellationHandler {
                loop.execute {
                    handler.value.startRequest(head: head, bodyLength: bodyLength, timeout: timeout, promise: promise)
                }
                guard let body = request.body, body.length > 0 else {
                    return try await promise.futureResult.get()
                }
                // The body is sent by a child task while this one waits for the answer: when the
                // request ends first (early answer, timeout, connection lost) the upload is
                // cancelled instead of waiting for the body source.
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await self.sendBody(body) }
                    let result = try await promise.futureResult.get()
                    group.cancelAll()
                    return result
                }
            } onCancel: {
                loop.execute { handler.value.cancelRequest(HTTPClientError(.cancelled, detail: "the calling task was cancelled")) }
            }
        } catch let error as HTTPClientError {
            throw error
        } catch {
            throw HTTPClientError(.connectionClosed, detail: "\(error)")
        }
    }

    /// Writes the body. Refused writes end it quietly (the result promise says why); a failing
    /// body source fails the request.
    private func sendBody(_ body: HTTPClientRequest.Body) async {
        do {
            switch body {
            case .bytes(var buffer):
                // In slices: one write of a whole upload chunk (megabytes) would be encrypted into
                // a copy of that size at once, and queued whole for the socket.
                while let slice = buffer.readSlice(length: min(Self.bodySlice, buffer.readableBytes)), slice.readableBytes > 0 {
                    try await write(slice)
                }
            case .stream(_, let producer):
                try await producer.run(HTTPBodyWriter { [self] part in try await self.write(part) })
            }
            try await end()
        } catch is HTTPClientError {
            // A write was refused: the request already failed or was answered early.
        } catch {
            let failure = Task.isCancelled
                ? HTTPClientError(.cancelled, detail: "the upload was stopped")
                : HTTPClientError(.bodySourceFailed, detail: "\(error)")
            let handler = self.handler
            channel.eventLoop.execute { handler.value.cancelRequest(failure) }
        }
    }

    /// The most written to the TLS layer at a time from an in-memory body.
    static let bodySlice = 64 * 1024

    private func write(_ buffer: ByteBuffer) async throws {
        let handler = self.handler
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: Void.self)
        loop.execute { handler.value.writeBodyPart(buffer, promise: promise) }
        try await Self.waitForWrite(promise.futureResult)
    }

    /// Waits for a write; socket errors become ``HTTPClientError`` so that the producer's own
    /// failures can be told apart from the connection's.
    private static func waitForWrite(_ future: EventLoopFuture<Void>) async throws(HTTPClientError) {
        do {
            try await future.get()
        } catch let error as HTTPClientError {
            throw error
        } catch {
            throw HTTPClientError(.connectionClosed, detail: "write failed: \(error)")
        }
    }

    private func end() async throws {
        let handler = self.handler
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: Void.self)
        loop.execute { handler.value.endBody(promise: promise) }
        try await Self.waitForWrite(promise.futureResult)
    }

    /// Starts the idle timer (the connection went back to the pool).
    func markIdle(timeout: TimeAmount) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.startIdleTimer(timeout) }
    }

    func close() {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.close() }
    }
}
