import NIOCore
import NIOHTTP1

/// The life of one HTTP/1.1 client connection, free of I/O.
///
/// `idle` → `inRequest` (request head, streamed body, response head, body, end) → `idle` again when
/// both sides agree to keep the connection alive, else `closing` → `closed`. Every failure during
/// a request fails that request and closes the connection: an HTTP/1.1 connection whose framing
/// is in doubt is never reused.
///
/// ``HTTP1ClientHandler`` reports each event and performs the returned ``Action``. The machine
/// also checks the request body against its announced length and bounds the response body.
struct HTTP1ConnectionStateMachine {
    private enum State {
        /// No request; the connection may sit in the pool.
        case idle
        case inRequest(InRequest)
        /// We asked the channel to close; waiting for it to go inactive.
        case closing
        case closed
    }

    private struct InRequest {
        enum Sending: Equatable {
            /// The head is written; `remaining` (> 0) body bytes are still expected.
            case body(remaining: Int)
            /// Head and the whole body (with the end) are written: the server has everything.
            case complete
        }

        enum Receiving {
            case waitingForHead
            case body(HTTPResponseHead)
        }

        var sending: Sending
        var receiving: Receiving
        var requestSent: Bool { sending == .complete }
    }

    /// What to do with the connection once a request is over.
    enum Afterwards: Equatable {
        /// Keep it: it goes back to the pool.
        case keepAlive
        /// Close it.
        case close
        /// Nothing: it is already closed.
        case none
    }

    enum Action: Equatable {
        /// Write the request head; also the end when there is no body.
        case sendRequestHead(HTTPRequestHead, sendEnd: Bool)
        /// Write the body part the caller offered.
        case writeBodyPart
        /// Write the body part the caller offered, which completes the body, and the request end.
        case writeLastBodyPart
        /// Nothing to write (the end was already written with the last part); succeed the offer.
        case succeedWrite
        /// Refuse the offered body part or end (the request is over); the request itself is
        /// already settled.
        case failWrite(HTTPClientError)
        /// Complete the request with the collected response.
        case succeedRequest(HTTPClientResponse, Afterwards)
        /// Fail the request (and any offered body part or end) with the error.
        case failRequest(HTTPClientError, Afterwards)
        /// Close the idle connection.
        case close
        case none
    }

    private var state: State = .idle
    private var responseBody = ByteBuffer()
    let maxResponseBodySize: Int

    init(maxResponseBodySize: Int) {
        self.maxResponseBodySize = maxResponseBodySize
    }

    var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    // MARK: Request side

    /// A request wants this connection; `bodyLength` is `nil` or `0` for no body.
    mutating func startRequest(head: HTTPRequestHead, bodyLength: Int?) -> Action {
        switch state {
        case .idle:
            let length = bodyLength ?? 0
            state = .inRequest(InRequest(sending: length > 0 ? .body(remaining: length) : .complete, receiving: .waitingForHead))
            responseBody.clear()
            return .sendRequestHead(head, sendEnd: length == 0)
        case .closing, .closed:
            return .failRequest(HTTPClientError(.connectionClosed, detail: "the pooled connection closed before the request started"), .none)
        case .inRequest:
            return .failRequest(HTTPClientError(.protocolError, detail: "connection already carries a request"), .none)
        }
    }

    /// The caller offers `count` body bytes.
    mutating func bodyPartOffered(count: Int) -> Action {
        switch state {
        case .inRequest(var request):
            guard case .body(let remaining) = request.sending else {
                return .failWrite(HTTPClientError(.bodyLengthMismatch, detail: "body part after the end of the request"))
            }
            guard count <= remaining else {
                state = .closing
                return .failRequest(HTTPClientError(.bodyLengthMismatch,
                    detail: "body source produced more bytes than the announced length"), .close)
            }
            let left = remaining - count
            request.sending = left == 0 ? .complete : .body(remaining: left)
            state = .inRequest(request)
            return left == 0 ? .writeLastBodyPart : .writeBodyPart
        case .idle, .closing, .closed:
            return .failWrite(Self.requestOver)
        }
    }

    /// The caller says the body is complete. The end itself went out with the last body part
    /// (the body has a length), so this only checks that nothing is missing.
    mutating func bodyEndOffered() -> Action {
        switch state {
        case .inRequest(let request):
            guard case .body(let remaining) = request.sending else {
                return .succeedWrite
            }
            state = .closing
            return .failRequest(HTTPClientError(.bodyLengthMismatch,
                detail: "body source ended \(remaining) bytes short of the announced length"), .close)
        case .idle:
            // The response arrived right after the last body part: the request is already done.
            return .succeedWrite
        case .closing, .closed:
            return .failWrite(Self.requestOver)
        }
    }

    private static let requestOver = HTTPClientError(.connectionClosed, detail: "the request is already over")

    // MARK: Response side

    mutating func responseHeadReceived(_ head: HTTPResponseHead) -> Action {
        switch state {
        case .inRequest(var request):
            guard case .waitingForHead = request.receiving else {
                state = .closing
                return .failRequest(HTTPClientError(.protocolError, detail: "second response head", requestSent: request.requestSent), .close)
            }
            if head.status.code < 200 {
                return .none  // informational (100 Continue): the real head follows
            }
            request.receiving = .body(head)
            state = .inRequest(request)
            return .none
        case .idle:
            state = .closing
            return .close  // unsolicited response: the framing is lost
        case .closing, .closed:
            return .none
        }
    }

    mutating func responseBodyReceived(_ buffer: ByteBuffer) -> Action {
        switch state {
        case .inRequest(let request):
            guard case .body = request.receiving else {
                state = .closing
                return .failRequest(HTTPClientError(.protocolError, detail: "response body before head", requestSent: request.requestSent), .close)
            }
            guard responseBody.readableBytes + buffer.readableBytes <= maxResponseBodySize else {
                state = .closing
                return .failRequest(HTTPClientError(.responseTooLarge,
                    detail: "response body exceeds \(maxResponseBodySize) bytes", requestSent: request.requestSent), .close)
            }
            var buffer = buffer
            responseBody.writeBuffer(&buffer)
            return .none
        case .idle:
            state = .closing
            return .close
        case .closing, .closed:
            return .none
        }
    }

    mutating func responseEndReceived() -> Action {
        switch state {
        case .inRequest(let request):
            guard case .body(let head) = request.receiving else {
                state = .closing
                return .failRequest(HTTPClientError(.protocolError, detail: "response end before head", requestSent: request.requestSent), .close)
            }
            let response = HTTPClientResponse(status: head.status, version: head.version, headers: head.headers,
                                              body: responseBody, requestBodyComplete: request.requestSent)
            responseBody = ByteBuffer()
            if request.requestSent && head.isKeepAlive {
                state = .idle
                return .succeedRequest(response, .keepAlive)
            }
            state = .closing
            return .succeedRequest(response, .close)
        case .idle:
            state = .closing
            return .close
        case .closing, .closed:
            return .none
        }
    }

    // MARK: Failures and timers

    /// The request timer fired.
    mutating func requestTimeoutFired(after timeout: TimeAmount) -> Action {
        guard case .inRequest(let request) = state else { return .none }
        state = .closing
        let detail = "no complete response within \(Self.describe(timeout))"
        return .failRequest(HTTPClientError(.requestTimeout, detail: detail, requestSent: request.requestSent), .close)
    }

    /// The caller gave up (task cancelled, body source failed).
    mutating func requestCancelled(_ error: HTTPClientError) -> Action {
        guard case .inRequest(let request) = state else { return .none }
        state = .closing
        var error = error
        error.requestSent = request.requestSent
        return .failRequest(error, .close)
    }

    /// The idle timer fired.
    mutating func idleTimeoutFired() -> Action {
        guard case .idle = state else { return .none }
        state = .closing
        return .close
    }

    /// The pool or client asks to close the connection (shutdown).
    mutating func closeRequested() -> Action {
        switch state {
        case .idle:
            state = .closing
            return .close
        case .inRequest(let request):
            state = .closing
            return .failRequest(HTTPClientError(.shutdown, detail: "connection closed by the client", requestSent: request.requestSent), .close)
        case .closing, .closed:
            return .none
        }
    }

    /// An error travelled up the pipeline (TLS, parser, socket).
    mutating func errorCaught(_ error: HTTPClientError) -> Action {
        switch state {
        case .inRequest(let request):
            state = .closing
            var error = error
            error.requestSent = request.requestSent
            return .failRequest(error, .close)
        case .idle:
            state = .closing
            return .close
        case .closing, .closed:
            return .none
        }
    }

    mutating func channelInactive() -> Action {
        switch state {
        case .inRequest(let request):
            state = .closed
            let detail = request.requestSent
                ? "the server closed the connection without a complete response"
                : "the server closed the connection while the request was being sent"
            return .failRequest(HTTPClientError(.connectionClosed, detail: detail, requestSent: request.requestSent), .none)
        case .idle, .closing, .closed:
            state = .closed
            return .none
        }
    }

    static func describe(_ amount: TimeAmount) -> String {
        let ms = amount.nanoseconds / 1_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}
