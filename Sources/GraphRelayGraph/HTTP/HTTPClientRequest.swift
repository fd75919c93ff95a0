import NIOCore
import NIOHTTP1

/// One HTTP request: method, URL, headers and an optional body.
///
/// `Host`, `Content-Length` and `User-Agent` are set by the client; other headers are sent as given.
public struct HTTPClientRequest: Sendable {
    public var method: HTTPMethod
    public var url: HTTPURL
    public var headers: HTTPHeaders
    public var body: Body?

    /// A request body: bytes in memory, or a stream of known length produced on demand.
    public enum Body: Sendable {
        case bytes(ByteBuffer)
        /// `length` bytes written by `producer`. The producer may be invoked more than once (a
        /// request retried on a fresh connection); each run must write the whole body again.
        case stream(length: Int, producer: HTTPBodyProducer)

        public var length: Int {
            switch self {
            case .bytes(let buffer): buffer.readableBytes
            case .stream(let length, _): length
            }
        }
    }

    public init(method: HTTPMethod, url: HTTPURL, headers: HTTPHeaders = [:], body: Body? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// Writes a streamed request body through an ``HTTPBodyWriter``.
public struct HTTPBodyProducer: Sendable {
    let run: @Sendable (HTTPBodyWriter) async throws -> Void

    public init(_ run: @escaping @Sendable (HTTPBodyWriter) async throws -> Void) {
        self.run = run
    }
}

/// Passed to an ``HTTPBodyProducer``: each `write` returns once the bytes are handed to the
/// network (that is the back-pressure), and throws if the request has already failed or finished
/// (e.g. the server answered early), in which case the producer should stop.
public struct HTTPBodyWriter: Sendable {
    let writePart: @Sendable (ByteBuffer) async throws -> Void

    public func write(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await writePart(buffer)
    }
}
