import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GraphRelayGraph

@Suite("HTTP1ClientHandler (EmbeddedChannel)")
struct HTTP1ClientHandlerTests {
    struct Harness {
        let channel: EmbeddedChannel
        let handler: HTTP1ClientHandler

        init(maxResponseBodySize: Int = 1024) throws {
            channel = EmbeddedChannel()
            handler = HTTP1ClientHandler(maxResponseBodySize: maxResponseBodySize, logger: Logger(label: "test"))
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        }

        func outbound() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                text += String(buffer: buffer)
            }
            return text
        }

        func start(bodyLength: Int?, timeout: TimeAmount = .seconds(30)) -> EventLoopFuture<HTTP1ClientHandler.Result> {
            let promise = channel.eventLoop.makePromise(of: HTTP1ClientHandler.Result.self)
            var headers = HTTPHeaders([("Host", "graph.example")])
            if let bodyLength { headers.add(name: "Content-Length", value: String(bodyLength)) }
            let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1.0/users/a@b/sendMail", headers: headers)
            handler.startRequest(head: head, bodyLength: bodyLength, timeout: timeout, promise: promise)
            return promise.futureResult
        }

        func write(_ text: String) -> EventLoopFuture<Void> {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            handler.writeBodyPart(ByteBuffer(string: text), promise: promise)
            return promise.futureResult
        }

        func end() -> EventLoopFuture<Void> {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            handler.endBody(promise: promise)
            return promise.futureResult
        }
    }

    func result<T>(_ future: EventLoopFuture<T>) -> Result<T, Error>? {
        var outcome: Result<T, Error>?
        future.assumeIsolated().whenComplete { outcome = $0 }
        return outcome
    }

    @Test func streamsRequestAndCollectsResponse() throws {
        let harness = try Harness()
        let response = harness.start(bodyLength: 8)
        #expect(try harness.write("abcd").wait() == ())
        #expect(try harness.write("efgh").wait() == ())
        try harness.end().wait()
        let sent = try harness.outbound()
        #expect(sent.hasPrefix("POST /v1.0/users/a@b/sendMail HTTP/1.1\r\n"))
        #expect(sent.contains("Content-Length: 8\r\n"))
        #expect(sent.hasSuffix("\r\n\r\nabcdefgh"))
        #expect(result(response) == nil ? true : false)

        try harness.channel.writeInbound(ByteBuffer(string: "HTTP/1.1 202 Accepted\r\nrequest-id: r1\r\nContent-Length: 0\r\n\r\n"))
        let answer = try response.wait()
        #expect(answer.response.status == .accepted)
        #expect(answer.response.headers.first(name: "request-id") == "r1")
        #expect(answer.reusable)
        #expect(harness.channel.isActive)
    }

    @Test func chunkedResponseBodyIsAssembled() throws {
        let harness = try Harness()
        let response = harness.start(bodyLength: nil)
        _ = try harness.outbound()
        try harness.channel.writeInbound(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n"))
        try harness.channel.writeInbound(ByteBuffer(string: "2\r\n1}\r\n0\r\n\r\n"))
        let answer = try response.wait()
        #expect(answer.response.bodyString == "{\"a\":1}")
    }

    @Test func requestTimeoutFailsAndCloses() throws {
        let harness = try Harness()
        let response = harness.start(bodyLength: nil, timeout: .seconds(5))
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(result(response) == nil ? true : false)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        guard case .failure(let error as HTTPClientError)? = result(response) else {
            Issue.record("expected a timeout")
            return
        }
        #expect(error.kind == .requestTimeout)
        #expect(error.requestSent)
        #expect(!harness.channel.isActive)
    }

    @Test func serverCloseMidBodyFailsPendingWritesSafely() throws {
        let harness = try Harness()
        let response = harness.start(bodyLength: 10)
        try harness.write("12345").wait()
        try harness.channel.close().wait()
        guard case .failure(let error as HTTPClientError)? = result(response) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .connectionClosed)
        #expect(!error.requestSent)
        guard case .failure? = result(harness.write("67890")) else {
            Issue.record("expected the write to be refused")
            return
        }
    }

    @Test func earlyAnswerStopsTheBodyAndClosesTheConnection() throws {
        let harness = try Harness()
        let response = harness.start(bodyLength: 100)
        try harness.write("0123456789").wait()
        try harness.channel.writeInbound(ByteBuffer(string: "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n"))
        let answer = try response.wait()
        #expect(answer.response.status == .payloadTooLarge)
        #expect(!answer.response.requestBodyComplete)
        #expect(!answer.reusable)
        #expect(throws: HTTPClientError.self) { try harness.write("more").wait() }
        #expect(!harness.channel.isActive)
    }

    @Test func malformedResponseIsAProtocolError() throws {
        let harness = try Harness()
        let response = harness.start(bodyLength: nil)
        _ = try? harness.channel.writeInbound(ByteBuffer(string: "HTTP/1.1 2x2 Nope\r\n\r\n"))
        guard case .failure(let error as HTTPClientError)? = result(response) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .protocolError)
    }

    @Test func idleTimerClosesConnection() throws {
        let harness = try Harness()
        let response = harness.start(bodyLength: nil)
        try harness.channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        #expect(try response.wait().reusable)
        harness.handler.startIdleTimer(.seconds(50))
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(49))
        #expect(harness.channel.isActive)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!harness.channel.isActive)
    }

    @Test func bodyLengthMismatchFailsWriteAndRequest() throws {
        let harness = try Harness()
        let response = harness.start(bodyLength: 3)
        #expect(throws: HTTPClientError.self) { try harness.write("toolong").wait() }
        guard case .failure(let error as HTTPClientError)? = result(response) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.kind == .bodyLengthMismatch)
    }
}

