import NIOCore
import NIOHTTP1

/// A complete HTTP response (the Graph and token endpoints answer with small bodies).
public struct HTTPClientResponse: Sendable {
    public var status: HTTPResponseStatus
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    /// `false` when the server answered before the request body was completely sent (e.g. an early
    /// 413); the connection is then closed rather than reused.
    public var requestBodyComplete: Bool

    public init(status: HTTPResponseStatus, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:],
                body: ByteBuffer = ByteBuffer(), requestBodyComplete: Bool = true) {
        self.status = status
        self.version = version
        self.headers = headers
        self.body = body
        self.requestBodyComplete = requestBodyComplete
    }

    public var bodyString: String { String(buffer: body) }
}

extension HTTPClientResponse: Equatable {
    public static func == (lhs: HTTPClientResponse, rhs: HTTPClientResponse) -> Bool {
        lhs.status == rhs.status && lhs.version == rhs.version && lhs.headers == rhs.headers
            && lhs.body == rhs.body && lhs.requestBodyComplete == rhs.requestBodyComplete
    }
}
