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
                switch request.body {
                case .none:
                    break
                case .bytes(let buffer):
                    if buffer.readableBytes > 0 {
                        do {
                            try await write(buffer)
                            try await end()
                        } catch {
                            // The request failed; the result promise carries why.
                        }
                    }
                case .stream(_, let producer):
                    let writer = HTTPBodyWriter { [self] part in try await self.write(part) }
                    do {
                        try await producer.run(writer)
                        try await end()
                    } catch is HTTPClientError {
                        // A write was refused: the request already failed or was answered early.
                    } catch {
                        let failure = HTTPClientError(.bodySourceFailed, detail: "\(error)")
                        loop.execute { handler.value.cancelRequest(failure) }
                    }
                }
                return try await promise.futureResult.get()
            } onCancel: {
                loop.execute { handler.value.cancelRequest(HTTPClientError(.cancelled, detail: "the calling task was cancelled")) }
            }
        } catch let error as HTTPClientError {
            throw error
        } catch {
            throw HTTPClientError(.connectionClosed, detail: "\(error)")
        }
    }

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
